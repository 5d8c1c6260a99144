/**
 * A node of the simulation, a client or the cluster's seed, driving the real core: a `Download` decides
 * what to ask of whom; an uploader answers requests (the seed through `SeedPolicy`), sending each chunk in
 * segments under a `LedbatController` (or, with congestion "none", all at once). Messages between nodes:
 *
 *   hello(have-set)   on introduction, both ways           have(chunk)          a chunk verified
 *   request(chunk, direct)                                 piece(chunk)         in segments
 *   refuse(chunk, "ask-peers" | "not-held" | "busy")
 */
import { ChunkSet, type ChunkTable } from "../chunks.ts";
import type { Clock } from "../clock.ts";
import { Download, type Payload } from "../download.ts";
import { DEFAULT_LEDBAT, LedbatController } from "../ledbat.ts";
import type { PipelineLimits } from "../pipeline.ts";
import type { Proximity } from "../proximity.ts";
import type { Random } from "../random.ts";
import { chunkVerifies } from "../resume.ts";
import { DEFAULT_SEED_POLICY, SeedPolicy, type SeedPolicyOptions, type SwarmView } from "../seed-policy.ts";
import type { EventLoop } from "./events.ts";
import type { Network, Uplink } from "./network.ts";

export const CONTROL_BYTES = 48;

export interface NodeOptions {
  readonly id: string;
  readonly server: boolean;
  readonly proximity?: Proximity;
  /** Sends every chunk corrupt (a bad peer). */
  readonly corrupt?: boolean;
  /** "ledbat": yield to other traffic; "none": send whole chunks as fast as the link takes them. */
  readonly congestion: "ledbat" | "none";
  readonly segmentBytes: number;
  /** Requests an uploader queues before it answers "busy". */
  readonly uploadQueue: number;
  readonly limits?: Partial<PipelineLimits>;
}

/**
 * The cluster's side, shared by all its seeds: one view of the swarm (whom each peer was introduced to,
 * what each announced) and one policy, as the client agents would share them.
 */
export class ClusterView {
  readonly known = new Map<string, ChunkSet>();
  readonly policy: SeedPolicy;

  constructor(
    nodes: ReadonlyMap<string, SimNode>,
    chunkCount: number,
    clock: Clock,
    options?: Partial<SeedPolicyOptions>,
  ) {
    const view: SwarmView = {
      neighbours: (peer) => nodes.get(peer)?.neighbours ?? [],
      has: (peer, chunk) => this.known.get(peer)?.has(chunk) ?? false,
    };
    this.policy = new SeedPolicy(view, chunkCount, clock, { ...DEFAULT_SEED_POLICY, ...options });
  }
}

export interface Shared {
  readonly loop: EventLoop;
  readonly network: Network;
  readonly table: ChunkTable;
  /** The asset's real bytes, when the simulation carries them. */
  readonly bytes: Uint8Array | undefined;
  readonly nodes: Map<string, SimNode>;
  readonly cluster: ClusterView;
  /** How long until neighbours notice a node went away, ms. */
  readonly detectMs: number;
  /** A game packet's queueing delay (above the path's own), ms. */
  readonly onGamePacket: (delayMs: number) => void;
}

interface Upload {
  readonly to: string;
  readonly chunk: number;
  remaining: number;
}

export class SimNode {
  readonly id: string;
  readonly server: boolean;
  readonly link: Uplink;
  online = false;
  readonly neighbours = new Set<string>();
  /** What it holds (verified), kept across leaving and coming back (it is on its disk). */
  readonly holds: ChunkSet;
  /** Real bytes of what it holds, when the simulation carries bytes. */
  readonly stored = new Map<number, Uint8Array>();
  download: Download | undefined;
  /** The download that completed (its counters: from peers, from the server, wasted, bans). */
  finished: Download | undefined;
  readonly #uploads: Upload[] = [];
  #inFlight = 0;
  readonly #ledbat: LedbatController | undefined;
  /** from:chunk -> bytes of it arrived */
  readonly #arriving = new Map<string, number>();
  /** What the seeds know of each peer's chunks (one view for all the cluster's seeds). */
  readonly #known: Map<string, ChunkSet>;
  readonly #policy: SeedPolicy | undefined;
  readonly #random: Random;
  #ticking = false;
  /** Chunks it asked for, across restarts (a test checks a resumed download asks only for what is missing). */
  readonly asked: number[] = [];
  /** Each time it came back: when, what it held (verified) then, and where its requests from then on start in `asked`. */
  readonly resumes: { readonly at: number; readonly held: readonly number[]; readonly askedFrom: number }[] =
    [];
  startedAt: number | undefined;
  finishedAt: number | undefined;
  uploadedBytes = 0;

  constructor(
    readonly options: NodeOptions,
    private readonly shared: Shared,
    random: Random,
  ) {
    this.id = options.id;
    this.server = options.server;
    this.#random = random;
    this.link = shared.network.link(options.id);
    const size = shared.table.chunks.length;
    this.holds = options.server ? ChunkSet.full(size) : new ChunkSet(size);
    if (options.server && shared.bytes !== undefined) {
      for (const chunk of shared.table.chunks) {
        this.stored.set(chunk.index, shared.bytes.subarray(chunk.offset, chunk.offset + chunk.size));
      }
    }
    if (options.congestion === "ledbat") {
      this.#ledbat = new LedbatController(shared.loop, {
        ...DEFAULT_LEDBAT,
        mss: options.segmentBytes,
        minWindow: 2 * options.segmentBytes,
        initialWindow: 4 * options.segmentBytes,
      });
    }
    if (options.server) {
      this.#known = shared.cluster.known;
      this.#policy = shared.cluster.policy;
    } else {
      this.#known = new Map();
    }
  }

  get loop(): EventLoop {
    return this.shared.loop;
  }

  #node(id: string): SimNode | undefined {
    const node = this.shared.nodes.get(id);
    return node?.online ? node : undefined;
  }

  /** Sends a small message; `deliver` runs at the other end if both are still there then. */
  #control(to: string, deliver: (node: SimNode) => void): void {
    if (!this.online) return;
    const { arrivesAt } = this.shared.network.send(this.id, to, CONTROL_BYTES);
    this.shared.loop.at(arrivesAt, () => {
      const node = this.#node(to);
      if (node !== undefined && this.online) deliver(node);
    });
  }

  /** Comes online (first time or back): a download resumes from what it holds; introduced to its neighbours. */
  join(random: Random): void {
    this.online = true;
    const back = this.startedAt !== undefined;
    this.startedAt ??= this.shared.loop.now();
    if (!this.server && !this.holds.complete) {
      this.download = new Download({
        table: this.shared.table,
        clock: this.shared.loop,
        random,
        have: this.#verifiedOnDisk(),
        ...(this.options.proximity !== undefined ? { proximity: this.options.proximity } : {}),
        ...(this.options.limits !== undefined ? { limits: this.options.limits } : {}),
      });
      if (back)
        this.resumes.push({
          at: this.shared.loop.now(),
          held: [...this.holds],
          askedFrom: this.asked.length,
        });
      this.#startTicking();
    }
    for (const id of this.neighbours) this.#hello(id, true);
  }

  /** The resume rule: what it holds is what verifies (with real bytes, each chunk checked again). */
  #verifiedOnDisk(): ChunkSet {
    if (this.shared.bytes === undefined) return this.holds;
    for (const index of this.holds) {
      const bytes = this.stored.get(index);
      if (bytes === undefined || !chunkVerifies(this.shared.table.chunks[index]!, bytes)) {
        this.holds.delete(index);
        this.stored.delete(index);
      }
    }
    return this.holds;
  }

  #hello(to: string, answer: boolean): void {
    const bits = this.holds.bits();
    this.#control(to, (node) => node.onHello(this.id, bits, this.server, this.options.proximity, answer));
  }

  /** Goes away at once: neighbours notice after `detectMs`. */
  leave(): void {
    if (!this.online) return;
    this.online = false;
    this.download = undefined;
    this.#uploads.length = 0;
    this.#inFlight = 0;
    this.#arriving.clear();
    this.link.reset();
    this.shared.loop.after(this.shared.detectMs, () => {
      for (const node of this.shared.nodes.values()) if (node.online) node.onGone(this.id);
    });
  }

  onGone(id: string): void {
    this.download?.removePeer(id);
    this.#known.delete(id);
    this.#policy?.peerLeft(id);
    this.pump();
  }

  onHello(
    from: string,
    bits: Uint8Array,
    server: boolean,
    proximity: Proximity | undefined,
    answer: boolean,
  ): void {
    const has = ChunkSet.fromBits(this.shared.table.chunks.length, bits);
    if (this.server) this.#known.set(from, has);
    if (this.download !== undefined && !this.download.peers().includes(from)) {
      this.download.addPeer(from, { has, server, ...(proximity !== undefined ? { proximity } : {}) });
    }
    this.neighbours.add(from);
    if (answer) this.#hello(from, false);
    this.pump();
  }

  onHave(from: string, chunk: number): void {
    if (this.server) this.#known.get(from)?.add(chunk);
    this.download?.peerHas(from, chunk);
    this.pump();
  }

  onRequest(from: string, chunk: number, direct: boolean): void {
    const refusal: "ask-peers" | "not-held" | "busy" | undefined = !this.holds.has(chunk)
      ? "not-held"
      : this.#uploads.length >= this.options.uploadQueue
        ? "busy"
        : this.#policy !== undefined && this.#policy.decide(from, chunk, direct) === "ask-peers"
          ? "ask-peers"
          : undefined;
    if (refusal !== undefined) {
      this.#control(from, (node) => node.onRefuse(this.id, chunk, refusal));
      return;
    }
    const size = this.shared.table.chunks[chunk]!.size;
    this.#uploads.push({ to: from, chunk, remaining: size });
    this.#sendSegments();
  }

  onBanned(requester: string, peer: string): void {
    this.#policy?.peerBanned(requester, peer);
  }

  onRefuse(from: string, chunk: number, reason: "ask-peers" | "not-held" | "busy"): void {
    this.download?.refused(from, chunk, reason);
    this.pump();
  }

  /** Sends segments of queued uploads while the congestion window allows. */
  #sendSegments(): void {
    const segment = this.options.segmentBytes;
    while (this.online && this.#uploads.length > 0) {
      if (this.#ledbat !== undefined && this.#inFlight + segment > this.#ledbat.window) return;
      const upload = this.#uploads[0]!;
      const bytes = Math.min(segment, upload.remaining);
      upload.remaining -= bytes;
      if (upload.remaining === 0) this.#uploads.shift();
      this.#inFlight += bytes;
      const sent = this.shared.network.send(this.id, upload.to, bytes);
      this.uploadedBytes += bytes * (1 + sent.losses);
      const rtt = 2 * this.shared.network.delay(this.id, upload.to);
      const last = upload.remaining === 0;
      this.shared.loop.at(sent.arrivesAt, () => {
        const node = this.#node(upload.to);
        if (node !== undefined && this.online) node.onSegment(this, upload.chunk, bytes, last);
      });
      // the acknowledgement comes back half a round trip after arrival; it carries the one-way delay
      this.shared.loop.at(sent.arrivesAt + rtt / 2, () => {
        if (!this.online) return;
        const inFlight = this.#inFlight;
        this.#inFlight = Math.max(0, this.#inFlight - bytes);
        if (this.#ledbat !== undefined) {
          if (sent.losses > 0) this.#ledbat.lost();
          else this.#ledbat.acked(bytes, sent.arrivesAt - sent.queuedAt, inFlight, rtt);
        }
        this.#sendSegments();
      });
    }
  }

  onSegment(from: SimNode, chunk: number, bytes: number, last: boolean): void {
    const key = `${from.id}:${chunk}`;
    const got = (this.#arriving.get(key) ?? 0) + bytes;
    if (!last) {
      this.#arriving.set(key, got);
      return;
    }
    this.#arriving.delete(key);
    this.onPiece(from.id, chunk, from.payload(chunk));
  }

  /** What this node sends as `chunk`: its bytes (flipped if it is a corrupt peer), or a virtual chunk. */
  payload(chunk: number): Payload {
    const size = this.shared.table.chunks[chunk]!.size;
    const stored = this.stored.get(chunk);
    if (stored === undefined) return { size, intact: this.options.corrupt !== true };
    if (this.options.corrupt !== true) return stored;
    const bad = stored.slice();
    bad[this.#random.int(0, bad.length - 1)]! ^= 0xff;
    return bad;
  }

  onPiece(from: string, chunk: number, payload: Payload): void {
    const download = this.download;
    if (download === undefined) return;
    const verdict = download.received(from, chunk, payload);
    if (verdict === "corrupt" && download.scores.banned(from)) {
      // tell the cluster, whose seed then counts nothing of the banned peer's for this one
      for (const id of this.neighbours) {
        if (this.shared.nodes.get(id)?.server) this.#control(id, (node) => node.onBanned(this.id, from));
      }
    }
    if (verdict !== "verified") {
      this.pump();
      return;
    }
    this.holds.add(chunk);
    if (payload instanceof Uint8Array) this.stored.set(chunk, payload);
    for (const id of this.neighbours) this.#control(id, (node) => node.onHave(this.id, chunk));
    if (download.done) {
      this.finishedAt = this.shared.loop.now();
      this.finished = download;
      this.download = undefined;
    }
    this.pump();
  }

  /** Sends the requests its download wants now. */
  pump(): void {
    const download = this.download;
    if (download === undefined || !this.online) return;
    for (const request of download.requests()) {
      this.asked.push(request.chunk);
      this.#control(request.peer, (node) => node.onRequest(this.id, request.chunk, request.direct));
    }
  }

  #startTicking(): void {
    if (this.#ticking) return;
    this.#ticking = true;
    const tick = () => {
      if (this.download === undefined || !this.online) {
        this.#ticking = false;
        return;
      }
      this.download.tick();
      this.pump();
      this.shared.loop.after(250, tick);
    };
    this.shared.loop.after(250, tick);
  }

  /** Game packets to the cluster every `everyMs`, sharing the uplink; their delay is reported. */
  startGameTraffic(bytes: number, everyMs: number, until: () => boolean): void {
    const send = () => {
      if (until()) return;
      if (this.online) {
        const server = [...this.shared.nodes.values()].find((node) => node.server)!;
        const sent = this.shared.network.send(this.id, server.id, bytes);
        this.shared.onGamePacket(
          sent.arrivesAt - sent.queuedAt - this.shared.network.delay(this.id, server.id),
        );
      }
      this.shared.loop.after(everyMs, send);
    };
    this.shared.loop.after(this.#random.int(0, everyMs), send);
  }
}
