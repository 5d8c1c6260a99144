/**
 * A swarm node on the network: one UDP socket through which a client fetches one asset from the peers the
 * cluster introduced it to (and the cluster's seed), and serves what it holds to them; or the cluster's seed
 * itself (`server`), which serves by `SeedPolicy` and relays for pairs that cannot reach each other.
 *
 * The decisions are the swarm core's (`Download`: rarest first, windows, scores and bans, endgame); this file
 * only moves bytes: grants (grant.ts) open peer connections (punched both ways, or through the relay after
 * `punchTimeoutMs`, or only through it for a player who keeps their address to themselves), messages are
 * sealed with the pair's key (wire.ts), a chunk travels in segments each acknowledged, under a LEDBAT
 * controller (ledbat.ts) so that swarm traffic yields to game traffic, lost segments sent again. A peer not
 * heard for `deadAfterMs` is gone: what was asked of it goes elsewhere.
 */
import { createSocket, type RemoteInfo, type Socket } from "node:dgram";
import { ChunkSet, type ChunkTable } from "../chunks.ts";
import { type Clock, systemClock } from "../clock.ts";
import { Download } from "../download.ts";
import { DEFAULT_LEDBAT, LedbatController } from "../ledbat.ts";
import type { PipelineLimits } from "../pipeline.ts";
import type { Progress } from "../progress.ts";
import { Random } from "../random.ts";
import type { SeedPolicy } from "../seed-policy.ts";
import type { ChunkStore } from "../store.ts";
import { type Grant, type PeerAddress, pairKey } from "./grant.ts";
import {
  decodePeerMessage,
  encodePeerMessage,
  MAX_DATAGRAM_BYTES,
  open,
  type PeerMessage,
  PeerMessageType,
  RELAYED,
  relayed,
  SEGMENT_BYTES,
  seal,
  sealedPair,
} from "./wire.ts";

export interface SwarmNodeOptions {
  /** This player's session id (the seed: "cluster"). */
  readonly id: string;
  readonly table: ChunkTable;
  /** The asset's id (32 bytes). */
  readonly asset: Uint8Array;
  readonly store: ChunkStore;
  /** The chunks it holds, verified (resume.ts `verifiedChunks`). */
  readonly have: ChunkSet;
  readonly host?: string;
  readonly port?: number;
  /** The cluster's seed: serves by `policy`, relays. */
  readonly server?: boolean;
  readonly policy?: SeedPolicy;
  /** The relay (the seed's socket), for pairs that cannot punch through, and for `relayOnly`. */
  readonly relay?: PeerAddress;
  /** The player keeps their address to themselves: every peer through the relay. */
  readonly relayOnly?: boolean;
  readonly punchTimeoutMs?: number;
  readonly deadAfterMs?: number;
  /** Uploads queued at most before it answers "busy". */
  readonly uploadQueue?: number;
  readonly limits?: Partial<PipelineLimits>;
  readonly seed?: number;
  readonly clock?: Clock;
  /** false: send as fast as acknowledgements allow within a fixed window (a bench's "no congestion control"). */
  readonly ledbat?: boolean;
  readonly onProgress?: (progress: Progress) => void;
  /** The seed saw `peer` at `address` (its observed, public address): the tracker introduces it there. */
  readonly onSeen?: (peer: string, address: PeerAddress) => void;
  /** This node banned `peer` (corrupt chunks): the cluster should hear of it. */
  readonly onBanned?: (peer: string) => void;
  /** Test hook: what it serves as `chunk` (a corrupt peer flips bytes here). */
  readonly tamper?: (chunk: number, bytes: Uint8Array) => Uint8Array;
}

interface Connection {
  readonly grant: Grant;
  readonly key: string;
  via: "direct" | "relay";
  /** Where datagrams go when direct: the grant's address, then where its datagrams came from. */
  address: PeerAddress | undefined;
  connected: boolean;
  startedAt: number;
  heardAt: number;
  sentAt: number;
  has: ChunkSet | undefined;
}

interface Upload {
  readonly connection: Connection;
  readonly chunk: number;
  readonly bytes: Uint8Array;
  next: number;
}

interface Segment {
  readonly connection: Connection;
  readonly chunk: number;
  readonly offset: number;
  readonly size: number;
  sentAt: number;
  tries: number;
  /** Waiting to be sent again (not counted in flight). */
  queued: boolean;
}

interface Arriving {
  readonly bytes: Uint8Array;
  readonly got: Uint8Array;
  missing: number;
}

const TICK_MS = 20;
const HELLO_EVERY_MS = 200;
/** An idle connection says something this often; a peer silent for `deadAfterMs` (at least 4x this) is gone. */
const KEEPALIVE_MS = 400;
const MAX_TRIES = 10;
const MAX_WINDOW = 512 * 1024;

export class SwarmNode {
  readonly id: string;
  readonly download: Download | undefined;
  readonly have: ChunkSet;
  /** What each peer announced (the seed's view of the swarm). */
  readonly known = new Map<string, ChunkSet>();
  /** Bytes sent, by kind: chunk segments, relayed datagrams, everything. */
  readonly sent = { pieces: 0, relayed: 0, total: 0 };
  readonly #options: SwarmNodeOptions;
  readonly #clock: Clock;
  readonly #socket: Socket;
  readonly #connections = new Map<string, Connection>();
  readonly #byPeer = new Map<string, Connection>();
  /** pair -> the sessions of its two sides (the relay's registry). */
  readonly #relayPairs = new Map<string, readonly [string, string]>();
  /** session -> its observed address (the seed). */
  readonly #seen = new Map<string, PeerAddress>();
  readonly #uploads: Upload[] = [];
  readonly #inFlight = new Map<string, Segment>();
  readonly #retransmit: Segment[] = [];
  #inFlightBytes = 0;
  readonly #ledbat: LedbatController;
  readonly #useLedbat: boolean;
  #rttMs = 50;
  /** Verified chunks being written to the store. */
  #writing = 0;
  /** The relay: as the options say, or the seed's address from its grant. */
  #relay: PeerAddress | undefined;
  readonly #arriving = new Map<string, Arriving>();
  #timer: NodeJS.Timeout | undefined;
  #closed = false;
  #resolveDone: (() => void) | undefined;
  readonly done: Promise<void>;

  private constructor(options: SwarmNodeOptions, socket: Socket) {
    this.#options = options;
    this.id = options.id;
    this.#clock = options.clock ?? systemClock;
    this.#socket = socket;
    this.have = options.have.clone();
    this.#relay = options.relay;
    this.#useLedbat = options.ledbat !== false;
    this.#ledbat = new LedbatController(this.#clock, {
      ...DEFAULT_LEDBAT,
      // a real host's delays carry its event loop's lag as well as the link's queue: RFC 6817's 100 ms
      targetMs: 100,
      mss: SEGMENT_BYTES,
      minWindow: 16 * SEGMENT_BYTES,
      initialWindow: 32 * SEGMENT_BYTES,
    });
    this.done = new Promise((resolve) => {
      this.#resolveDone = resolve;
    });
    if (options.server !== true && !this.have.complete) {
      this.download = new Download({
        table: options.table,
        clock: this.#clock,
        random: new Random(options.seed ?? Math.floor(Math.random() * 2 ** 31)),
        have: this.have,
        limits: { timeoutMs: 10_000, ...options.limits },
        // a chunk goes to the seed directly only after failing from three peers (a time-out is no proof)
        directAfterFailures: 3,
        ...(options.onProgress !== undefined ? { onProgress: options.onProgress } : {}),
      });
    } else {
      this.#resolveDone?.();
    }
    socket.on("message", (bytes, from) => this.#receive(new Uint8Array(bytes), from));
    this.#timer = setInterval(() => this.#tick(), TICK_MS);
  }

  static async start(options: SwarmNodeOptions): Promise<SwarmNode> {
    const socket = createSocket("udp4");
    await new Promise<void>((resolve, reject) => {
      socket.once("error", reject);
      socket.bind(options.port ?? 0, options.host ?? "0.0.0.0", () => {
        socket.off("error", reject);
        resolve();
      });
    });
    socket.on("error", () => {});
    return new SwarmNode(options, socket);
  }

  get address(): PeerAddress {
    const { address, port } = this.#socket.address();
    return { host: this.#options.host ?? address, port };
  }

  /** Peers it has a live connection with, and how each is reached. */
  connections(): { peer: string; via: "direct" | "relay"; connected: boolean }[] {
    return [...this.#connections.values()].map((c) => ({
      peer: c.grant.peer,
      via: c.via,
      connected: c.connected,
    }));
  }

  /** The seed's relay: datagrams of `pair` between the two sessions pass through it. */
  relayPair(pair: Uint8Array, a: string, b: string): void {
    this.#relayPairs.set(pairKey(pair), [a, b]);
  }

  /** Where the seed saw `peer`. */
  seen(peer: string): PeerAddress | undefined {
    return this.#seen.get(peer);
  }

  /** A grant from the cluster: connect to its peer (punching, or through the relay). */
  addGrant(grant: Grant): void {
    if (this.#closed) return;
    if (grant.server === true && grant.address !== undefined) this.#relay ??= grant.address;
    const previous = this.#byPeer.get(grant.peer);
    if (previous !== undefined) this.#drop(previous, false);
    const now = this.#clock.now();
    const direct = grant.address !== undefined && (this.#options.relayOnly !== true || grant.server === true);
    const connection: Connection = {
      grant,
      key: pairKey(grant.pair),
      via: direct || this.#options.server === true ? "direct" : "relay",
      address: grant.address,
      connected: false,
      startedAt: now,
      heardAt: now,
      sentAt: Number.NEGATIVE_INFINITY,
      has: undefined,
    };
    this.#connections.set(connection.key, connection);
    this.#byPeer.set(grant.peer, connection);
    this.#hello(connection);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    for (const connection of this.#connections.values())
      this.#send(connection, { type: PeerMessageType.Bye });
    this.#closed = true;
    clearInterval(this.#timer);
    await new Promise<void>((resolve) => this.#socket.close(() => resolve()));
  }

  #send(connection: Connection, message: PeerMessage): void {
    if (this.#closed) return;
    const { grant } = connection;
    const sealed = seal(grant.pair, grant.asset, grant.side, grant.key, encodePeerMessage(message));
    connection.sentAt = this.#clock.now();
    if (connection.via === "direct" && connection.address !== undefined) {
      this.#socket.send(sealed, connection.address.port, connection.address.host);
      this.sent.total += sealed.length;
    } else if (this.#relay !== undefined) {
      const out = relayed(sealed);
      this.#socket.send(out, this.#relay.port, this.#relay.host);
      this.sent.total += out.length;
    }
  }

  #hello(connection: Connection, answer = true): void {
    if (answer) this.#send(connection, { type: PeerMessageType.Punch });
    this.#send(connection, {
      type: PeerMessageType.Hello,
      server: this.#options.server === true,
      answer,
      have: this.have.bits(),
    });
  }

  #receive(bytes: Uint8Array, from: RemoteInfo): void {
    if (this.#closed || bytes.length > MAX_DATAGRAM_BYTES) return;
    if (bytes[0] === RELAYED) {
      this.#forward(bytes.subarray(1), from);
      return;
    }
    const pair = sealedPair(bytes);
    if (pair === undefined) return;
    const connection = this.#connections.get(pairKey(pair));
    if (connection === undefined) return;
    const { grant } = connection;
    if (Date.now() > grant.expiresAt) return;
    const opened = open(bytes, grant.asset, 1 - grant.side, grant.key);
    if (opened === undefined) return;
    const message = decodePeerMessage(opened);
    if (message === undefined) return;
    const now = this.#clock.now();
    connection.heardAt = now;
    const viaRelay =
      this.#relay !== undefined &&
      from.address === this.#relay.host &&
      from.port === this.#relay.port &&
      grant.server !== true;
    if (!viaRelay && (this.#options.relayOnly !== true || grant.server === true)) {
      connection.via = "direct";
      connection.address = { host: from.address, port: from.port };
      if (this.#options.server === true && this.#seen.get(grant.peer)?.port !== from.port) {
        this.#seen.set(grant.peer, connection.address);
        this.#options.onSeen?.(grant.peer, connection.address);
      }
    }
    this.#handle(connection, message);
  }

  /** The seed relays a sealed datagram of a pair it knows, from the address it saw one side at, to the other. */
  #forward(inner: Uint8Array, from: RemoteInfo): void {
    const pair = sealedPair(inner);
    if (pair === undefined) return;
    const sides = this.#relayPairs.get(pairKey(pair));
    if (sides === undefined) return;
    const [a, b] = sides;
    const seenA = this.#seen.get(a);
    const seenB = this.#seen.get(b);
    const isFrom = (seen: PeerAddress | undefined) =>
      seen !== undefined && seen.host === from.address && seen.port === from.port;
    const to = isFrom(seenA) ? seenB : isFrom(seenB) ? seenA : undefined;
    if (to === undefined) return;
    this.#socket.send(inner, to.port, to.host);
    this.sent.relayed += inner.length;
    this.sent.total += inner.length;
  }

  #handle(connection: Connection, message: PeerMessage): void {
    const peer = connection.grant.peer;
    switch (message.type) {
      case PeerMessageType.Hello: {
        let has: ChunkSet;
        try {
          has = ChunkSet.fromBits(this.#options.table.chunks.length, message.have);
        } catch {
          return;
        }
        const first = !connection.connected;
        connection.connected = true;
        connection.has = has;
        if (this.#options.server === true) this.known.set(peer, has.clone());
        if (this.download !== undefined && (first || !this.download.peers().includes(peer))) {
          this.download.addPeer(peer, { has, server: message.server && connection.grant.server === true });
        }
        if (message.answer) this.#hello(connection, false);
        break;
      }
      case PeerMessageType.Have:
        if (message.chunk >= this.#options.table.chunks.length) return;
        connection.has?.add(message.chunk);
        this.known.get(peer)?.add(message.chunk);
        this.download?.peerHas(peer, message.chunk);
        break;
      case PeerMessageType.Request:
        void this.#serve(connection, message.chunk, message.direct);
        break;
      case PeerMessageType.Piece:
        this.#piece(connection, message.chunk, message.offset, message.sentAt, message.data);
        break;
      case PeerMessageType.Ack:
        this.#ack(connection, message.chunk, message.offset, message.delay);
        break;
      case PeerMessageType.Refuse:
        this.download?.refused(peer, message.chunk, message.reason);
        break;
      case PeerMessageType.Cancel:
        this.#cancel(connection, message.chunk);
        break;
      case PeerMessageType.Punch:
        break;
      case PeerMessageType.Bye:
        this.#drop(connection, true);
        return;
    }
    this.#pump();
  }

  async #serve(connection: Connection, chunk: number, direct: boolean): Promise<void> {
    const refuse = (reason: "ask-peers" | "not-held" | "busy") =>
      this.#send(connection, { type: PeerMessageType.Refuse, chunk, reason });
    const entry = this.#options.table.chunks[chunk];
    if (entry === undefined || !this.have.has(chunk)) return refuse("not-held");
    // a short queue: a request that would wait behind many chunks is better asked of someone else now
    if (this.#uploads.length >= (this.#options.uploadQueue ?? 4)) return refuse("busy");
    if (this.#options.policy?.decide(connection.grant.peer, chunk, direct) === "ask-peers") {
      return refuse("ask-peers");
    }
    let bytes = await this.#options.store.read(entry);
    if (bytes === undefined) return refuse("not-held");
    if (this.#options.tamper !== undefined) bytes = this.#options.tamper(chunk, bytes);
    if (!this.#connections.has(connection.key)) return;
    this.#uploads.push({ connection, chunk, bytes, next: 0 });
    this.#sendSegments();
  }

  #sendSegments(): void {
    const window = this.#useLedbat ? Math.min(MAX_WINDOW, this.#ledbat.window) : 64 * SEGMENT_BYTES;
    while (this.#inFlightBytes + SEGMENT_BYTES <= window && !this.#closed) {
      const again = this.#retransmit.shift();
      if (again !== undefined) {
        const key = `${again.connection.key}:${again.chunk}:${again.offset}`;
        if (this.#inFlight.get(key) !== again || !this.#connections.has(again.connection.key)) continue;
        const upload = this.#uploads.find(
          (u) => u.connection === again.connection && u.chunk === again.chunk,
        );
        const bytes = upload?.bytes;
        if (bytes === undefined) {
          this.#inFlight.delete(key);
          continue;
        }
        this.#segment(again, bytes);
        continue;
      }
      const upload = this.#uploads.find((u) => u.next < u.bytes.length);
      if (upload === undefined) return;
      const size = Math.min(SEGMENT_BYTES, upload.bytes.length - upload.next);
      const segment: Segment = {
        connection: upload.connection,
        chunk: upload.chunk,
        offset: upload.next,
        size,
        sentAt: 0,
        tries: 0,
        queued: false,
      };
      upload.next += size;
      this.#inFlight.set(`${upload.connection.key}:${upload.chunk}:${segment.offset}`, segment);
      this.#segment(segment, upload.bytes);
    }
  }

  #segment(segment: Segment, bytes: Uint8Array): void {
    segment.sentAt = this.#clock.now();
    segment.tries++;
    segment.queued = false;
    this.#inFlightBytes += segment.size;
    const data = bytes.subarray(segment.offset, segment.offset + segment.size);
    this.#send(segment.connection, {
      type: PeerMessageType.Piece,
      chunk: segment.chunk,
      offset: segment.offset,
      sentAt: segment.sentAt,
      data,
    });
    this.sent.pieces += data.length;
  }

  #ack(connection: Connection, chunk: number, offset: number, delay: number): void {
    const key = `${connection.key}:${chunk}:${offset}`;
    const segment = this.#inFlight.get(key);
    if (segment === undefined) return;
    this.#inFlight.delete(key);
    const inFlight = this.#inFlightBytes;
    if (!segment.queued) this.#inFlightBytes -= segment.size;
    const rtt = this.#clock.now() - segment.sentAt;
    if (segment.tries === 1) this.#rttMs = 0.875 * this.#rttMs + 0.125 * rtt;
    this.#ledbat.acked(segment.size, delay, inFlight, this.#rttMs);
    // an upload is finished when its every segment was sent and acknowledged
    const index = this.#uploads.findIndex((u) => u.connection === connection && u.chunk === chunk);
    const upload = this.#uploads[index];
    if (upload !== undefined && upload.next >= upload.bytes.length) {
      let open = false;
      for (const other of this.#inFlight.values()) {
        if (other.connection === connection && other.chunk === chunk) {
          open = true;
          break;
        }
      }
      if (!open) this.#uploads.splice(index, 1);
    }
    this.#sendSegments();
  }

  /** The requester no longer wants `chunk`: its upload and segments in flight are dropped. */
  #cancel(connection: Connection, chunk: number): void {
    const index = this.#uploads.findIndex((u) => u.connection === connection && u.chunk === chunk);
    if (index < 0) return;
    this.#uploads.splice(index, 1);
    for (const [key, segment] of this.#inFlight) {
      if (segment.connection === connection && segment.chunk === chunk) {
        this.#inFlight.delete(key);
        if (!segment.queued) this.#inFlightBytes -= segment.size;
      }
    }
    this.#sendSegments();
  }

  #piece(connection: Connection, chunk: number, offset: number, sentAt: number, data: Uint8Array): void {
    const download = this.download;
    const peer = connection.grant.peer;
    const entry = this.#options.table.chunks[chunk];
    if (download === undefined || entry === undefined) return;
    if (offset % SEGMENT_BYTES !== 0 || data.length !== Math.min(SEGMENT_BYTES, entry.size - offset)) return;
    const key = `${peer}:${chunk}`;
    let arriving = this.#arriving.get(key);
    if (arriving === undefined) {
      // only what was asked of this peer is collected (nothing else takes memory); the rest is called off
      if (!download.pipeline.requestedFrom(peer, chunk)) {
        this.#send(connection, { type: PeerMessageType.Cancel, chunk });
        return;
      }
      const segments = Math.ceil(entry.size / SEGMENT_BYTES);
      arriving = { bytes: new Uint8Array(entry.size), got: new Uint8Array(segments), missing: segments };
      this.#arriving.set(key, arriving);
    }
    this.#send(connection, {
      type: PeerMessageType.Ack,
      chunk,
      offset,
      sentAt,
      delay: this.#clock.now() - sentAt,
    });
    const at = offset / SEGMENT_BYTES;
    if (arriving.got[at] === 1) return;
    arriving.got[at] = 1;
    arriving.bytes.set(data, offset);
    if (--arriving.missing > 0) return;
    this.#arriving.delete(key);
    void this.#complete(connection, chunk, arriving.bytes);
  }

  async #complete(connection: Connection, chunk: number, bytes: Uint8Array): Promise<void> {
    const download = this.download;
    if (download === undefined) return;
    const peer = connection.grant.peer;
    const verdict = download.received(peer, chunk, bytes);
    if (verdict === "corrupt" && download.scores.banned(peer)) {
      this.#options.onBanned?.(peer);
      this.#drop(connection, false);
    }
    if (verdict === "verified") {
      this.#writing++;
      try {
        await this.#options.store.write(this.#options.table.chunks[chunk]!, bytes);
      } finally {
        this.#writing--;
      }
      this.have.add(chunk);
      for (const other of this.#connections.values()) {
        if (other.connected) this.#send(other, { type: PeerMessageType.Have, chunk });
      }
      // done once every verified chunk is written, not when the last one verified (others may be writing)
      if (download.done && this.#writing === 0) this.#resolveDone?.();
    }
    this.#pump();
  }

  #drop(connection: Connection, gone: boolean): void {
    if (!gone) this.#send(connection, { type: PeerMessageType.Bye });
    this.#connections.delete(connection.key);
    if (this.#byPeer.get(connection.grant.peer) === connection) this.#byPeer.delete(connection.grant.peer);
    this.download?.removePeer(connection.grant.peer);
    this.known.delete(connection.grant.peer);
    this.#options.policy?.peerLeft(connection.grant.peer);
    for (let i = this.#uploads.length - 1; i >= 0; i--) {
      if (this.#uploads[i]!.connection === connection) this.#uploads.splice(i, 1);
    }
    for (const [key, segment] of this.#inFlight) {
      if (segment.connection === connection) {
        this.#inFlight.delete(key);
        if (!segment.queued) this.#inFlightBytes -= segment.size;
      }
    }
    for (const key of this.#arriving.keys()) {
      if (key.startsWith(`${connection.grant.peer}:`)) this.#arriving.delete(key);
    }
  }

  #pump(): void {
    const download = this.download;
    if (download === undefined || download.done || this.#closed) return;
    for (const request of download.requests()) {
      const connection = this.#byPeer.get(request.peer);
      if (connection === undefined) continue;
      this.#send(connection, { type: PeerMessageType.Request, chunk: request.chunk, direct: request.direct });
    }
  }

  #tick(): void {
    const now = this.#clock.now();
    const deadAfter = Math.max(4 * KEEPALIVE_MS, this.#options.deadAfterMs ?? 5000);
    const punchTimeout = this.#options.punchTimeoutMs ?? 1500;
    for (const connection of [...this.#connections.values()]) {
      if (Date.now() > connection.grant.expiresAt && !connection.connected) {
        this.#drop(connection, true);
        continue;
      }
      if (connection.connected) {
        if (now - connection.heardAt > deadAfter) {
          this.#drop(connection, true);
          continue;
        }
        // keep-alives well inside the other side's patience (a silent peer is taken for gone)
        if (now - connection.sentAt > KEEPALIVE_MS) this.#send(connection, { type: PeerMessageType.Punch });
        continue;
      }
      if (
        connection.via === "direct" &&
        this.#options.server !== true &&
        connection.grant.server !== true &&
        now - connection.startedAt > punchTimeout &&
        this.#relay !== undefined
      ) {
        connection.via = "relay";
      }
      if (now - connection.sentAt > HELLO_EVERY_MS) this.#hello(connection);
    }
    // segments not acknowledged in time: sent again (a loss for the controller), or given up
    const timeout = Math.max(200, 4 * this.#rttMs);
    for (const [key, segment] of this.#inFlight) {
      if (now - segment.sentAt < timeout || segment.queued) continue;
      this.#inFlightBytes -= segment.size;
      segment.queued = true;
      if (segment.tries >= MAX_TRIES) {
        this.#inFlight.delete(key);
        const index = this.#uploads.findIndex(
          (u) => u.connection === segment.connection && u.chunk === segment.chunk,
        );
        if (index >= 0) this.#uploads.splice(index, 1);
        continue;
      }
      this.#ledbat.lost();
      this.#retransmit.push(segment);
    }
    this.#sendSegments();
    if (this.download !== undefined && !this.download.done) {
      this.download.tick();
      // what is no longer asked of a peer is no longer collected
      for (const key of this.#arriving.keys()) {
        const split = key.lastIndexOf(":");
        if (!this.download.pipeline.requestedFrom(key.slice(0, split), Number(key.slice(split + 1)))) {
          this.#arriving.delete(key);
        }
      }
      this.#pump();
    }
  }
}
