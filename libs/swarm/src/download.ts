/**
 * One client's download of one asset, the swarm's core: it knows the peers it was introduced to and what
 * each has, decides what to ask of whom, and judges what arrives. No transport: the caller tells it what
 * happened (a peer joined, announced a chunk, answered, refused, left) and sends the requests `requests()`
 * returns, the same code in the simulator (sim/) and on the network.
 *
 * - Rarest first (picker.ts) across the have-sets of the peers; peers asked closest first (proximity.ts),
 *   then by score (scoring.ts), each within its request window (pipeline.ts). Peers of the same or a
 *   neighbouring zone cell form a sub-network: a farther peer is asked for a chunk only when no nearer
 *   one has it (the endgame asks anyone).
 * - The server (a peer marked `server`) is asked only for chunks no usable peer has, and directly for a
 *   chunk that failed from a peer (`directAfterFailures`); when it answers "ask-peers" (seed-policy.ts), the
 *   chunk is not asked of it again for `serverRetryMs`.
 * - Endgame: when every missing chunk is already asked for, idle peers are asked for them too (up to
 *   `endgameCopies` requests per chunk), so the last chunks do not wait on the slowest peer.
 * - A chunk that does not verify is dropped, its sender penalised (banned after a threshold) and never asked
 *   for that chunk again; the chunk goes back to the pool for someone else.
 */
import type { ChunkSet, ChunkTable } from "./chunks.ts";
import { ChunkSet as Chunks } from "./chunks.ts";
import type { Clock } from "./clock.ts";
import { PiecePicker } from "./picker.ts";
import { DEFAULT_LIMITS, type PeerId, type PipelineLimits, RequestPipeline } from "./pipeline.ts";
import { type Progress, RateMeter } from "./progress.ts";
import { type Proximity, proximityGroup, proximityRank } from "./proximity.ts";
import type { Random } from "./random.ts";
import { chunkVerifies } from "./resume.ts";
import { DEFAULT_SCORING, PeerScores, type ScoringOptions } from "./scoring.ts";

/** A chunk's bytes, or, in a simulation that does not carry bytes, its size and whether it would verify. */
export type Payload = Uint8Array | { readonly size: number; readonly intact: boolean };

export interface PeerInfo {
  /** What it has (a server has everything). */
  readonly has: ChunkSet;
  readonly proximity?: Proximity;
  /** The cluster's seed: asked only for what peers cannot give. */
  readonly server?: boolean;
}

export interface Request {
  readonly peer: PeerId;
  readonly chunk: number;
  /** Asked of the server after failing elsewhere, though a peer has it. */
  readonly direct: boolean;
}

export type Verdict = "verified" | "corrupt" | "duplicate" | "unrequested";

export interface DownloadOptions {
  readonly table: ChunkTable;
  readonly clock: Clock;
  readonly random: Random;
  /** The chunks it has already (resume.ts). */
  readonly have?: ChunkSet;
  readonly proximity?: Proximity;
  readonly limits?: Partial<PipelineLimits>;
  readonly scoring?: Partial<ScoringOptions>;
  /** After the server said "ask-peers" for a chunk, wait this long before asking it again. */
  readonly serverRetryMs?: number;
  /** After a peer answered "busy", ask it nothing for this long. */
  readonly busyBackoffMs?: number;
  /** Failures from peers after which a chunk is asked of the server directly. */
  readonly directAfterFailures?: number;
  readonly endgameCopies?: number;
  readonly onProgress?: (progress: Progress) => void;
}

interface Peer {
  readonly id: PeerId;
  readonly has: ChunkSet;
  readonly proximity: Proximity;
  readonly server: boolean;
  /** Chunks it sent corrupt or let time out: never asked of it again. */
  readonly failed: Set<number>;
}

export class Download {
  readonly table: ChunkTable;
  readonly have: ChunkSet;
  readonly scores: PeerScores;
  readonly pipeline: RequestPipeline;
  readonly #picker: PiecePicker;
  readonly #peers = new Map<PeerId, Peer>();
  readonly #clock: Clock;
  readonly #proximity: Proximity;
  readonly #serverRetryMs: number;
  readonly #directAfter: number;
  readonly #endgameCopies: number;
  readonly #onProgress: ((progress: Progress) => void) | undefined;
  /** chunk -> failures from peers */
  readonly #failures = new Map<number, number>();
  /** chunk -> until when the server is not asked for it */
  readonly #serverRefused = new Map<number, number>();
  /** peer -> until when it is not asked (it said "busy") */
  readonly #busyUntil = new Map<PeerId, number>();
  readonly #busyBackoffMs: number;
  readonly #rate = new RateMeter();
  /** peer -> bytes of verified chunks it gave */
  readonly #sources = new Map<PeerId, number>();
  #bytesDone = 0;
  #fromPeers = 0;
  #fromServer = 0;
  #wasted = 0;

  constructor(options: DownloadOptions) {
    this.table = options.table;
    const size = options.table.chunks.length;
    this.have = options.have?.clone() ?? new Chunks(size);
    if (this.have.size !== size)
      throw new Error(`the have-set is of ${this.have.size} chunks, the asset has ${size}`);
    for (const index of this.have) this.#bytesDone += this.table.chunks[index]!.size;
    this.#clock = options.clock;
    this.#proximity = options.proximity ?? {};
    this.#picker = new PiecePicker(size, options.random);
    this.pipeline = new RequestPipeline({ ...DEFAULT_LIMITS, ...options.limits });
    this.scores = new PeerScores({ ...DEFAULT_SCORING, ...options.scoring });
    this.#serverRetryMs = options.serverRetryMs ?? 2000;
    this.#directAfter = options.directAfterFailures ?? 1;
    this.#endgameCopies = options.endgameCopies ?? 2;
    this.#busyBackoffMs = options.busyBackoffMs ?? 250;
    this.#onProgress = options.onProgress;
  }

  get done(): boolean {
    return this.have.complete;
  }

  /** How many peers have `chunk`, as far as it knows (the server not counted). */
  availability(chunk: number): number {
    return this.#picker.availability[chunk]!;
  }

  addPeer(id: PeerId, info: PeerInfo): void {
    if (this.#peers.has(id)) this.removePeer(id);
    if (info.has.size !== this.have.size) {
      throw new Error(`peer ${id} announced ${info.has.size} chunks, the asset has ${this.have.size}`);
    }
    if (this.scores.banned(id)) return;
    const peer: Peer = {
      id,
      has: info.has.clone(),
      proximity: info.proximity ?? {},
      server: info.server === true,
      failed: new Set(),
    };
    this.#peers.set(id, peer);
    if (!peer.server) this.#picker.addPeer(peer.has);
    this.#report();
  }

  /** `id` announced that it has `chunk` now. */
  peerHas(id: PeerId, chunk: number): void {
    const peer = this.#peers.get(id);
    if (peer === undefined || chunk < 0 || chunk >= this.have.size) return;
    if (peer.has.add(chunk) && !peer.server) this.#picker.peerGot(chunk);
  }

  /** `id` left (or its connection broke): what was asked of it goes back to the pool. */
  removePeer(id: PeerId): void {
    const peer = this.#peers.get(id);
    if (peer === undefined) return;
    this.#peers.delete(id);
    if (!peer.server) this.#picker.removePeer(peer.has);
    this.pipeline.dropPeer(id);
    this.#report();
  }

  peers(): PeerId[] {
    return [...this.#peers.keys()];
  }

  /** Peers in the order they are asked: nearest first, then best scored. */
  #askOrder(): Peer[] {
    const peers = [...this.#peers.values()].filter((peer) => !peer.server);
    const rank = new Map(peers.map((peer) => [peer.id, proximityRank(this.#proximity, peer.proximity)]));
    return peers.sort(
      (a, b) => rank.get(a.id)! - rank.get(b.id)! || this.scores.score(b.id) - this.scores.score(a.id),
    );
  }

  /** The requests to send now (recorded as sent). */
  requests(): Request[] {
    const now = this.#clock.now();
    const out: Request[] = [];
    if (this.done) return out;
    const ask = (peer: Peer, chunk: number, direct = false): void => {
      this.pipeline.add(peer.id, chunk, now);
      out.push({ peer: peer.id, chunk, direct });
    };
    const missing = (index: number) => !this.have.has(index);
    const capacity_ = (peer: Peer) =>
      (this.#busyUntil.get(peer.id) ?? 0) > now ? 0 : this.pipeline.capacity(peer.id);
    const order = this.#askOrder();
    // sub-networks by proximity: a peer is asked for a chunk only if no nearer group has it
    const nearest = new Uint8Array(this.have.size).fill(2);
    const groups = new Map<PeerId, number>();
    for (const peer of order) {
      const group = proximityGroup(this.#proximity, peer.proximity);
      groups.set(peer.id, group);
      if (group === 2) continue;
      for (const index of peer.has)
        if (!peer.failed.has(index) && group < nearest[index]!) nearest[index] = group;
    }
    for (const peer of order) {
      let room = capacity_(peer);
      const group = groups.get(peer.id)!;
      while (room-- > 0) {
        const chunk = this.#picker.pick(
          (index) =>
            missing(index) &&
            peer.has.has(index) &&
            this.pipeline.requests(index) === 0 &&
            !peer.failed.has(index) &&
            nearest[index]! >= group,
        );
        if (chunk < 0) break;
        ask(peer, chunk);
      }
    }
    for (const server of [...this.#peers.values()].filter((peer) => peer.server)) {
      let room = capacity_(server);
      while (room-- > 0) {
        const chunk = this.#picker.pick(
          (index) =>
            missing(index) &&
            this.pipeline.requests(index) === 0 &&
            (this.#serverRefused.get(index) ?? 0) <= now &&
            (this.#picker.availability[index] === 0 || this.#mustGoDirect(index)),
        );
        if (chunk < 0) break;
        // direct: a peer has it, or the server said "ask-peers" though none this download can use has it
        ask(server, chunk, this.#picker.availability[chunk]! > 0 || this.#serverRefused.has(chunk));
      }
    }
    // endgame: every missing chunk is asked for; idle peers duplicate the outstanding requests
    if (this.#allMissingAsked()) {
      for (const peer of order) {
        let room = capacity_(peer);
        while (room-- > 0) {
          const chunk = this.#picker.pick(
            (index) =>
              missing(index) &&
              peer.has.has(index) &&
              !peer.failed.has(index) &&
              !this.pipeline.requestedFrom(peer.id, index) &&
              this.pipeline.requests(index) < this.#endgameCopies,
          );
          if (chunk < 0) break;
          ask(peer, chunk);
        }
      }
    }
    return out;
  }

  #mustGoDirect(index: number): boolean {
    if ((this.#failures.get(index) ?? 0) >= this.#directAfter) return true;
    // every peer that has it failed it, or is banned
    for (const peer of this.#peers.values()) {
      if (!peer.server && peer.has.has(index) && !peer.failed.has(index)) return false;
    }
    return true;
  }

  #allMissingAsked(): boolean {
    for (let index = 0; index < this.have.size; index++) {
      if (!this.have.has(index) && this.pipeline.requests(index) === 0) return false;
    }
    return true;
  }

  /**
   * A chunk arrived from `peer`. "verified": keep it (write it to the store, announce it); "corrupt": it was
   * dropped and the sender penalised (banned after the threshold, then removed); "duplicate": already had
   * it; "unrequested": it was not asked of that peer (dropped).
   */
  received(id: PeerId, chunk: number, payload: Payload): Verdict {
    const peer = this.#peers.get(id);
    const entry = this.table.chunks[chunk];
    const size = payload instanceof Uint8Array ? payload.length : payload.size;
    if (peer === undefined || entry === undefined || !this.pipeline.settle(id, chunk)) {
      this.#wasted += size;
      return "unrequested";
    }
    const intact =
      payload instanceof Uint8Array ? chunkVerifies(entry, payload) : payload.intact && size === entry.size;
    if (!intact) {
      this.#wasted += size;
      peer.failed.add(chunk);
      this.#failures.set(chunk, (this.#failures.get(chunk) ?? 0) + 1);
      if (this.scores.corrupt(id)) this.removePeer(id);
      return "corrupt";
    }
    this.scores.good(id);
    if (this.have.has(chunk)) {
      this.#wasted += size;
      return "duplicate";
    }
    this.have.add(chunk);
    this.#bytesDone += size;
    this.#sources.set(id, (this.#sources.get(id) ?? 0) + size);
    if (peer.server) this.#fromServer += size;
    else this.#fromPeers += size;
    this.#rate.record(size, this.#clock.now());
    this.#report();
    return "verified";
  }

  /** `peer` refused a request: the server's "ask-peers", or a peer that does not have the chunk (any more). */
  refused(id: PeerId, chunk: number, reason: "ask-peers" | "not-held" | "busy"): void {
    const peer = this.#peers.get(id);
    if (peer === undefined || !this.pipeline.settle(id, chunk, false)) return;
    if (reason === "busy") this.#busyUntil.set(id, this.#clock.now() + this.#busyBackoffMs);
    if (reason === "ask-peers") this.#serverRefused.set(chunk, this.#clock.now() + this.#serverRetryMs);
    if (reason === "not-held" && peer.has.delete(chunk) && !peer.server) this.#picker.peerLost(chunk);
  }

  /** Gives up requests out too long: their peers penalised, their chunks asked elsewhere. */
  tick(): void {
    for (const { peer: id, chunk } of this.pipeline.expire(this.#clock.now())) {
      const peer = this.#peers.get(id);
      if (peer === undefined) continue;
      this.scores.timeout(id);
      if (!peer.server) {
        peer.failed.add(chunk);
        this.#failures.set(chunk, (this.#failures.get(chunk) ?? 0) + 1);
      }
    }
  }

  /** Bytes of verified chunks each peer (and the server) gave. */
  sources(): ReadonlyMap<PeerId, number> {
    return this.#sources;
  }

  progress(): Progress {
    let peers = 0;
    for (const peer of this.#peers.values()) if (!peer.server) peers++;
    return {
      bytesDone: this.#bytesDone,
      bytesTotal: this.table.totalBytes,
      chunksDone: this.have.count,
      chunksTotal: this.have.size,
      peers,
      rate: this.#rate.rate(this.#clock.now()),
      fromPeers: this.#fromPeers,
      fromServer: this.#fromServer,
      wasted: this.#wasted,
      done: this.done,
    };
  }

  #report(): void {
    this.#onProgress?.(this.progress());
  }
}
