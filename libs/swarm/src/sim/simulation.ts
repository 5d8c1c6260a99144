/**
 * A whole swarm in one process on a virtual clock: one seed (the cluster) and `peers` clients fetching one
 * asset over simulated links (uplink bandwidth, delay, loss), joining within `startSpreadMs` of each other,
 * some leaving mid-transfer and coming back later (churn), some serving corrupt chunks, optionally sending
 * game packets on the same uplinks. The asset is virtual (sizes only, hash checks stood in for) or real
 * bytes (every chunk's SHA-256 checked, every finished client's copy compared). Seeded: the same options
 * give the same run.
 */
import { describeBytes, type Manifest } from "@overworld/manifest";
import { type ChunkTable, chunkTable, virtualTable } from "../chunks.ts";
import type { PipelineLimits } from "../pipeline.ts";
import { Random } from "../random.ts";
import type { SeedPolicyOptions } from "../seed-policy.ts";
import { EventLoop } from "./events.ts";
import { type LinkOptions, Network } from "./network.ts";
import { ClusterView, SimNode } from "./node.ts";

export interface Departure {
  /** The peer's number, 0 to peers - 1. */
  readonly peer: number;
  /** When it leaves, ms after the start. */
  readonly atMs: number;
  /** When it comes back (resuming from what it holds), ms after the start; never if left out. */
  readonly backAtMs?: number;
}

export interface SimulationOptions {
  readonly peers: number;
  /** The asset's size when virtual (ignored with `bytes`). */
  readonly assetBytes?: number;
  /** The asset's real bytes: every chunk hashed and checked, every copy compared at the end. */
  readonly bytes?: Uint8Array;
  readonly chunkSize: number;
  readonly seed?: number;
  /** The cluster's seeds (one view and one policy for all), each with `serverLink`. */
  readonly seeds?: number;
  readonly peerLink?: Partial<LinkOptions>;
  readonly serverLink?: Partial<LinkOptions>;
  /** Loss rate of every link (overrides theirs). */
  readonly loss?: number;
  readonly startSpreadMs?: number;
  readonly departures?: readonly Departure[];
  /** Random churn: this share of the peers leave once, at a random time in the first `withinMs`, for `awayMs`. */
  readonly churn?: { readonly share: number; readonly withinMs: number; readonly awayMs: number };
  /** Peers (their numbers) that serve every chunk corrupt. */
  readonly corrupt?: readonly number[];
  readonly congestion?: "ledbat" | "none";
  /** Game packets from every peer to the cluster on the same uplink. */
  readonly gameTraffic?: { readonly bytes: number; readonly everyMs: number };
  /** Zone grid cells of the peers (proximity), by peer number. */
  readonly cells?: (peer: number) => readonly [number, number];
  readonly segmentBytes?: number;
  readonly uploadQueue?: number;
  readonly detectMs?: number;
  readonly limits?: Partial<PipelineLimits>;
  readonly seedPolicy?: Partial<SeedPolicyOptions>;
  /** Gives up at this virtual time, ms. */
  readonly timeLimitMs?: number;
}

export interface PeerResult {
  readonly id: string;
  readonly corrupt: boolean;
  readonly startedAt: number;
  readonly finishedAt: number | undefined;
  readonly fromPeers: number;
  readonly fromServer: number;
  readonly wasted: number;
  readonly uploaded: number;
  readonly banned: readonly string[];
  /** Bytes of verified chunks from each source (of its last download, after any comeback). */
  readonly sources: ReadonlyMap<string, number>;
  /** Every chunk it asked for, in order, across restarts. */
  readonly asked: readonly number[];
  /** Each time it came back after leaving: what it held then, and where its requests from then on start. */
  readonly resumes: SimNode["resumes"];
}

export interface SimulationResult {
  readonly assetBytes: number;
  readonly chunks: number;
  /** Bytes the seeds sent together (retransmissions included), and as a multiple of the asset. */
  readonly seedUploaded: number;
  readonly seedRatio: number;
  readonly peers: readonly PeerResult[];
  /** Every peer that is not corrupt finished. */
  readonly allFinished: boolean;
  /** Completion times (finish - first start) of the peers that are not corrupt, ms, sorted. */
  readonly completionMs: readonly number[];
  readonly p50Ms: number;
  readonly p99Ms: number;
  /** With real bytes: every finished peer holds the asset byte for byte. */
  readonly identical: boolean | undefined;
  /** Game packets' queueing delay, ms. */
  readonly gameDelay: {
    readonly p50: number;
    readonly p99: number;
    readonly max: number;
    readonly count: number;
  };
  readonly virtualMs: number;
  readonly events: number;
}

export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

const PEER_LINK: LinkOptions = { uplink: 2_500_000, delayMs: 15, loss: 0 };
const SERVER_LINK: LinkOptions = { uplink: 12_500_000, delayMs: 5, loss: 0 };

function tableOf(options: SimulationOptions): ChunkTable {
  if (options.bytes === undefined) {
    if (options.assetBytes === undefined) throw new Error("a simulation needs assetBytes or bytes");
    return virtualTable(options.assetBytes, options.chunkSize);
  }
  const manifest: Manifest = {
    format: 1,
    kind: "asset",
    name: "simulated",
    version: "1.0.0",
    chunkSize: options.chunkSize,
    files: [describeBytes("asset.bin", options.bytes, options.chunkSize)],
  };
  return chunkTable(manifest);
}

export function simulate(options: SimulationOptions): SimulationResult {
  const random = new Random(options.seed ?? 1);
  const loop = new EventLoop();
  const network = new Network(loop, random.fork());
  const table = tableOf(options);
  const nodes = new Map<string, SimNode>();
  const cluster = new ClusterView(nodes, table.chunks.length, loop, options.seedPolicy);
  const gameDelays: number[] = [];
  const shared = {
    loop,
    network,
    table,
    bytes: options.bytes,
    nodes,
    cluster,
    detectMs: options.detectMs ?? 1000,
    onGamePacket: (delay: number) => gameDelays.push(delay),
  };
  const lossOf = (link: LinkOptions) => (options.loss === undefined ? link : { ...link, loss: options.loss });
  const common = {
    congestion: options.congestion ?? "ledbat",
    segmentBytes: options.segmentBytes ?? 16_384,
    uploadQueue: options.uploadQueue ?? 16,
    ...(options.limits !== undefined ? { limits: options.limits } : {}),
  } as const;

  const seeds: SimNode[] = [];
  for (let index = 0; index < (options.seeds ?? 1); index++) {
    const id = index === 0 ? "seed" : `seed-${index}`;
    network.add(id, lossOf({ ...SERVER_LINK, ...options.serverLink }));
    const seed = new SimNode({ id, server: true, ...common }, shared, random.fork());
    nodes.set(id, seed);
    seeds.push(seed);
  }
  const corrupt = new Set(options.corrupt ?? []);
  const peers: SimNode[] = [];
  for (let index = 0; index < options.peers; index++) {
    const id = `peer-${index}`;
    network.add(id, lossOf({ ...PEER_LINK, ...options.peerLink }));
    const cell = options.cells?.(index);
    const node = new SimNode(
      {
        id,
        server: false,
        corrupt: corrupt.has(index),
        ...(cell !== undefined ? { proximity: { cell } } : {}),
        ...common,
      },
      shared,
      random.fork(),
    );
    nodes.set(id, node);
    peers.push(node);
  }
  // the cluster introduces every client to its seeds and to the other clients
  for (const node of peers) {
    for (const seed of seeds) node.neighbours.add(seed.id);
    for (const other of peers) if (other !== node) node.neighbours.add(other.id);
  }
  for (const seed of seeds) seed.join(random.fork());
  const spread = options.startSpreadMs ?? 1000;
  for (const node of peers) {
    const joinRandom = random.fork();
    loop.at(random.int(0, spread), () => node.join(joinRandom));
  }
  const departures = [...(options.departures ?? [])];
  if (options.churn !== undefined) {
    for (let index = 0; index < options.peers; index++) {
      if (!random.chance(options.churn.share)) continue;
      const atMs = spread + random.int(0, options.churn.withinMs);
      departures.push({ peer: index, atMs, backAtMs: atMs + options.churn.awayMs });
    }
  }
  for (const departure of departures) {
    const node = peers[departure.peer]!;
    loop.at(departure.atMs, () => node.leave());
    if (departure.backAtMs !== undefined) {
      const backRandom = random.fork();
      loop.at(departure.backAtMs, () => node.join(backRandom));
    }
  }
  const honest = peers.filter((node) => !corrupt.has(Number(node.id.slice(5))));
  const allDone = () => honest.every((node) => node.finishedAt !== undefined);
  if (options.gameTraffic !== undefined) {
    for (const node of peers)
      node.startGameTraffic(options.gameTraffic.bytes, options.gameTraffic.everyMs, allDone);
  }
  loop.run(options.timeLimitMs ?? 3_600_000, allDone);

  const firstStart = Math.min(...peers.map((node) => node.startedAt ?? Number.POSITIVE_INFINITY));
  const completionMs = honest
    .filter((node) => node.finishedAt !== undefined)
    .map((node) => node.finishedAt! - firstStart)
    .sort((a, b) => a - b);
  let identical: boolean | undefined;
  if (options.bytes !== undefined) {
    const whole = Buffer.from(options.bytes);
    identical = peers
      .filter((node) => node.finishedAt !== undefined)
      .every((node) =>
        Buffer.concat(table.chunks.map((chunk) => node.stored.get(chunk.index)!)).equals(whole),
      );
  }
  const seedUploaded = seeds.reduce((sum, seed) => sum + seed.uploadedBytes, 0);
  const sortedGame = [...gameDelays].sort((a, b) => a - b);
  return {
    assetBytes: table.totalBytes,
    chunks: table.chunks.length,
    seedUploaded,
    seedRatio: seedUploaded / table.totalBytes,
    peers: peers.map((node) => {
      const progress = (node.finished ?? node.download)?.progress();
      return {
        id: node.id,
        corrupt: corrupt.has(Number(node.id.slice(5))),
        startedAt: node.startedAt ?? Number.NaN,
        finishedAt: node.finishedAt,
        fromPeers: progress?.fromPeers ?? 0,
        fromServer: progress?.fromServer ?? 0,
        wasted: progress?.wasted ?? 0,
        uploaded: node.uploadedBytes,
        banned: (node.finished ?? node.download)?.scores.bannedPeers() ?? [],
        sources: (node.finished ?? node.download)?.sources() ?? new Map(),
        asked: node.asked,
        resumes: node.resumes,
      };
    }),
    allFinished: allDone(),
    completionMs,
    p50Ms: percentile(completionMs, 50),
    p99Ms: percentile(completionMs, 99),
    identical,
    gameDelay: {
      p50: percentile(sortedGame, 50),
      p99: percentile(sortedGame, 99),
      max: sortedGame[sortedGame.length - 1] ?? Number.NaN,
      count: sortedGame.length,
    },
    virtualMs: loop.now(),
    events: loop.ran,
  };
}
