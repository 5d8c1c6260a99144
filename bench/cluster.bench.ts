/**
 * Cluster benchmark: field updates through the state server (1 and 2 replicas, each a child process,
 * with a message director) and db-field writes to Postgres, against the real NATS, Redis and Postgres
 * of this machine, with the machine's own ceilings measured in the same run.
 *
 *   pnpm bench:cluster            # full run (about two and a half minutes)
 *   pnpm bench:cluster --quick    # short rounds, for a smoke check (about half a minute)
 *   pnpm bench:cluster --json out.json
 *   pnpm bench:cluster --redis-cluster   # the same cases again on a local Redis Cluster (3 masters,
 *                                        # 3 replicas, startRedisCluster), after those on one Redis
 *
 * Cases:
 * - ceilings: NATS messages/s from one Node process to another (a publisher child, this process
 *   subscribing) and Redis pipelined HSETs/s on one connection; the best of the rounds (noise only
 *   ever lowers them);
 * - the hot path: 1,000 objects of one parent in 10 zones, `setXY(float32, float32) broadcast ram`;
 *   4 senders (client agents, a NATS connection each) own 250 objects each and send the `updates`
 *   batch moving all of them: "saturated": back to back, 4 requests in flight each, the most the
 *   replicas take; "paced": one batch per sender per tick, published without waiting as a client
 *   agent does, at 50 ms ticks (20k updates/s) and at 20 ms ticks (50k updates/s);
 *   latency from publish to delivery is taken per update by subscribers on the 10 location subjects
 *   (in this process, so one clock);
 * - db fields: acknowledged `db set` requests of one `uint32` db field of 1,000 stored objects, each
 *   writer on objects of its own, 64 and 256 in flight, with the acknowledgement latency.
 * Figures are medians over rounds (spread in brackets); latencies are medians of the rounds' p50 and
 * p99. CPU is read from /proc for each process involved, and for the rest of the machine ("others").
 * Every run gets its own subject root, Redis prefix, Postgres schemas and event stream, all removed
 * at the end, with the processes it started; everything runs on loopback; the run stops itself after
 * a time limit.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import {
  decodeEnvelope,
  encodeEnvelope,
  type Field,
  type messages,
  packField,
  parseDcText,
  subjects,
  unpackField,
} from "@overworld/protocol";
import {
  connectMinted,
  connectPostgres,
  connectRedis,
  EVERYWHERE,
  ensureNatsTrust,
  isCluster,
  type NatsConnection,
  type Pool,
  type Redis,
  type RunningNats,
  type RunningRedisCluster,
  request,
  serviceNatsEnv,
  startNatsServer,
  startRedisCluster,
} from "@overworld/service";
import { build, type Histogram } from "hdr-histogram-js";
import { freeTcpPort } from "../libs/cli/src/cluster-processes.ts";
import { type CpuGroups, type CpuSample, coresBetween, pidsNamed, sampleCpu } from "./support/cpu.ts";

const QUICK = process.argv.includes("--quick");
const JSON_OUT = argValue("--json");
const ROLE = argValue("--role");
const REDIS_CLUSTER = process.argv.includes("--redis-cluster");

const ROUNDS = QUICK ? 2 : 5;
const ROUND_MS = QUICK ? 600 : 2000;
const WARMUP_MS = QUICK ? 500 : 1500;
/** The whole run stops (and cleans up) if it takes longer than this. */
const TIME_LIMIT_MS = (QUICK ? 120_000 : 600_000) * (process.argv.includes("--redis-cluster") ? 2 : 1);

const OBJECTS = 1000;
const ZONES = 10;
const PARENT = 4_000_000;
const SENDERS = 4;
/** Batches each sender keeps in flight in the saturated case. */
const WINDOW = 4;
const TICK_MS = 50;
/** A heavier paced load: the same 1,000 objects every 20 ms (2.5 times the 50 ms load). */
const HEAVY_TICK_MS = 20;
const SENDER_CHANNEL = 7;

const DB_OBJECTS = 1000;
/** Acknowledged writes in flight: a moderate load, and a heavy one (more rows per commit). */
const DB_IN_FLIGHT = [64, 256] as const;
const DB_CONNECTIONS = 4;
/** Objects are created this many at a time. */
const CREATE_CONCURRENCY = 50;

const NATS_PAYLOAD_BYTES = 16;
const NATS_MESSAGES = QUICK ? 200_000 : 1_000_000;
const NATS_ROUNDS = QUICK ? 1 : 3;
const REDIS_OPS = QUICK ? 50_000 : 200_000;
const REDIS_PIPELINE = 1000;
const REDIS_ROUNDS = QUICK ? 1 : 3;

/** The issue's figures for this machine, used when a ceiling cannot be measured. */
const ISSUE_NATS_CEILING = 800_000;
const ISSUE_REDIS_CEILING = 100_000;

/** How long the NATS ceiling waits for the last messages of a round (a lost one ends it early). */
const CEILING_DRAIN_MS = 5000;
const POLL_MS = 5;
const REQUEST_TIMEOUT_MS = 15_000;
const READY_TIMEOUT_MS = 30_000;
const STOP_TIMEOUT_MS = 12_000;

/**
 * The run's own NATS, with credentials as a cluster runs it (its trust in a temporary directory, which
 * the child that measures the NATS ceiling is told of); the driver's connections may say anything.
 */
const NATS_DIR = argValue("--nats-dir") ?? mkdtempSync(join(tmpdir(), "overworld-cluster-bench-nats-"));
let natsUrl = argValue("--nats-url") ?? "";
let nats: RunningNats | undefined;
const connectAnywhere = (name: string) => connectMinted(NATS_DIR, natsUrl, name, EVERYWHERE);
const REDIS_URL = process.env.REDIS_URL ?? "redis://127.0.0.1:6379";
/** The Redis the services of the current backend use (one Redis, then with --redis-cluster the cluster). */
let redisUrl = REDIS_URL;
/** Appended to the Postgres schemas of the current backend (its director hands out doIds afresh). */
let schemaSuffix = "";
let redisCluster: RunningRedisCluster | undefined;
/** Cases that failed (named, with the reason), reported after the tables. */
const failedCases: string[] = [];
const REDIS_CLUSTER_DIR = REDIS_CLUSTER ? mkdtempSync(join(tmpdir(), "overworld-cluster-bench-redis-")) : "";
const DATABASE_URL = process.env.DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/postgres";
const CLUSTER_VERSION = "bench";

const REPO = fileURLToPath(new URL("../", import.meta.url));
const SELF = fileURLToPath(import.meta.url);
const STATE_SERVER_MAIN = join(REPO, "services/state-server/src/main.ts");
const DIRECTOR_MAIN = join(REPO, "services/message-director/src/main.ts");

/** Set when the run is being stopped (signal, time limit): every load loop ends at once. */
let shuttingDown = false;

function argValue(flag: string): string | undefined {
  const at = process.argv.indexOf(flag);
  return at >= 0 ? process.argv[at + 1] : undefined;
}

// ---- the world ------------------------------------------------------------------------------------

const DC_TEXT = `
dclass BenchMover {
  setXY(float32 x, float32 y) required broadcast ram;
};

dclass BenchAccount {
  setScore(uint32 score) db;
};
`;
const dc = parseDcText(DC_TEXT, "cluster-bench.dc");
const Mover = dc.class("BenchMover")!;
const Account = dc.class("BenchAccount")!;
const setXY: Field = Mover.field("setXY")!;
const setScore: Field = Account.field("setScore")!;

/** One run's names, so it shares nothing with other runs, tests or a real cluster on the same servers. */
const TAG = `bench${process.pid}${Date.now().toString(36)}`;
const ROOT = `owb${TAG}`;
const PREFIX = `owb:${TAG}:`;
const SS_SCHEMA = `ssb_${TAG}`;
const MD_SCHEMA = `mdb_${TAG}`;
const DC_PATH = join(tmpdir(), `overworld-${TAG}.dc`);

/** The senders are tools (an operator's rights), each request's sender in its subject. */
const names = subjects(ROOT);
const subject = {
  service: (service: "ss" | "db", op: string) =>
    names.service(service, op, { role: "tool", channel: SENDER_CHANNEL }),
  location: (zone: number) => names.location(PARENT, zone),
};

// ---- statistics -----------------------------------------------------------------------------------

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

function microsecondHistogram(): Histogram {
  return build({
    lowestDiscernibleValue: 1,
    highestTrackableValue: 120_000_000,
    numberOfSignificantValueDigits: 3,
  });
}

// ---- CPU accounting (Linux /proc; every figure is % of one core) -----------------------------------

/** % of one core used by each group between two samples, `others` likewise, `machine` in % of all cores. */
function cpuBetween(a: CpuSample, b: CpuSample): Record<string, number> {
  const cores = coresBetween(a, b);
  return Object.fromEntries(Object.entries(cores).map(([name, value]) => [name, value * 100]));
}

// ---- Redis counters -------------------------------------------------------------------------------

interface RedisCounters {
  /** Commands received from clients and from scripts, all databases, all clients. */
  readonly calls: number;
  readonly evalsha: number;
}

async function redisCounters(redis: Redis): Promise<RedisCounters> {
  // a cluster's: summed over its masters
  const servers = isCluster(redis) ? redis.nodes("master") : [redis];
  const info = (await Promise.all(servers.map((server) => server.info("commandstats")))).join("\n");
  let calls = 0;
  let evalsha = 0;
  for (const match of info.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) {
    const count = Number(match[2]);
    calls += count;
    if (match[1] === "evalsha") evalsha += count;
  }
  return { calls, evalsha };
}

// ---- processes ------------------------------------------------------------------------------------

interface Service {
  readonly name: string;
  readonly child: ChildProcess;
  /** Its /healthz and /metrics port. */
  readonly port: number;
  /** The last lines it wrote, for error messages. */
  readonly tail: string[];
}

const children = new Set<ChildProcess>();

/** Starts a service as a child process; resolves once it logs `readyText` (with its ops port). */
async function startService(
  name: string,
  main: string,
  env: Record<string, string>,
  readyText: string,
): Promise<Service> {
  if (shuttingDown) throw new Error(`not starting ${name}: the run is stopping`);
  const child = spawn(process.execPath, ["--import", "tsx", main], {
    cwd: REPO,
    env: { ...process.env, LOG_LEVEL: "info", HTTP_PORT: "0", HTTP_HOST: "127.0.0.1", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  children.add(child);
  child.once("exit", () => children.delete(child));
  const tail: string[] = [];
  let port = 0;
  const ready = new Promise<void>((resolve, reject) => {
    let pending = "";
    const onData = (chunk: Buffer) => {
      pending += chunk.toString();
      const lines = pending.split("\n");
      pending = lines.pop()!;
      for (const line of lines) {
        tail.push(line);
        if (tail.length > 30) tail.shift();
        if (line.includes(readyText)) {
          port = readPort(line);
          resolve();
        }
      }
    };
    child.stdout!.on("data", onData);
    child.stderr!.on("data", onData);
    child.once("exit", (code, signal) =>
      reject(new Error(`${name} exited (${code ?? signal}) before it was ready:\n${tail.join("\n")}`)),
    );
  });
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`${name} not ready within ${READY_TIMEOUT_MS} ms:\n${tail.join("\n")}`)),
      READY_TIMEOUT_MS,
    );
  });
  try {
    await Promise.race([ready, timeout]);
  } catch (error) {
    child.kill("SIGKILL");
    throw error;
  } finally {
    clearTimeout(timer);
  }
  return { name, child, port, tail };
}

function readPort(line: string): number {
  try {
    const port = (JSON.parse(line) as { port?: unknown }).port;
    return typeof port === "number" ? port : 0;
  } catch {
    return 0;
  }
}

/** SIGTERM, then SIGKILL if it has not exited in time. */
async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, "exit");
  child.kill("SIGTERM");
  const timer = setTimeout(() => child.kill("SIGKILL"), STOP_TIMEOUT_MS);
  await exited;
  clearTimeout(timer);
}

function stateServerEnv(instance: string): Record<string, string> {
  return {
    ...serviceNatsEnv(NATS_DIR, natsUrl, "state-server"),
    REDIS_URL: redisUrl,
    DATABASE_URL,
    DC_FILES: DC_PATH,
    SUBJECT_ROOT: ROOT,
    REDIS_PREFIX: `${PREFIX}ss:`,
    DB_SCHEMA: `${SS_SCHEMA}${schemaSuffix}`,
    INSTANCE_ID: instance,
    CLUSTER_VERSION,
  };
}

function directorEnv(): Record<string, string> {
  return {
    ...serviceNatsEnv(NATS_DIR, natsUrl, "message-director"),
    // the director stays on the one Redis: what --redis-cluster measures is the state server's cost
    REDIS_URL,
    DATABASE_URL,
    DC_FILES: DC_PATH,
    SUBJECT_ROOT: ROOT,
    REDIS_PREFIX: `${PREFIX}md:`,
    DB_SCHEMA: `${MD_SCHEMA}${schemaSuffix}`,
    INSTANCE_ID: "bench-md",
    CLUSTER_VERSION,
  };
}

function startReplica(n: number): Promise<Service> {
  return startService(
    `state-server ${n}`,
    STATE_SERVER_MAIN,
    stateServerEnv(`bench-ss-${n}`),
    "state server ready",
  );
}

// ---- ceilings -------------------------------------------------------------------------------------

/** The child side of the NATS ceiling: publishes `count` messages each time it is asked, then answers. */
async function natsPublisherRole(): Promise<void> {
  const target = argValue("--subject")!;
  const control = argValue("--control")!;
  const nc = await connectAnywhere("bench-nats-publisher");
  const payload = new Uint8Array(NATS_PAYLOAD_BYTES);
  const sub = nc.subscribe(control);
  await nc.flush(); // the server knows the subscription before the parent hears "ready"
  process.stdout.write("publisher ready\n");
  for await (const msg of sub) {
    const count = Number(new TextDecoder().decode(msg.data));
    if (count === 0) break;
    for (let i = 0; i < count; i++) {
      nc.publish(target, payload);
      if ((i & 0x3fff) === 0x3fff) await nc.flush();
    }
    await nc.flush();
    msg.respond(new Uint8Array());
  }
  await nc.drain();
}

/** Messages/s from a publisher child to this process: the best round after a warm-up one. */
async function measureNatsCeiling(nc: NatsConnection): Promise<number> {
  const target = `${ROOT}.ceiling.data`;
  const control = `${ROOT}.ceiling.control`;
  let received = 0;
  let first = 0;
  let last = 0;
  const sink = nc.subscribe(target, {
    callback: () => {
      last = performance.now();
      if (received === 0) first = last;
      received++;
    },
  });
  await nc.flush();
  const child = spawn(
    process.execPath,
    [
      "--import",
      "tsx",
      SELF,
      ...["--role", "nats-publisher", "--subject", target, "--control", control],
      ...["--nats-dir", NATS_DIR, "--nats-url", natsUrl],
    ],
    {
      cwd: REPO,
      env: process.env,
      stdio: ["ignore", "pipe", "inherit"],
    },
  );
  children.add(child);
  child.once("exit", () => children.delete(child));
  try {
    await new Promise<void>((resolve, reject) => {
      child.stdout!.on("data", (chunk: Buffer) => {
        if (chunk.toString().includes("publisher ready")) resolve();
      });
      child.once("exit", (code) =>
        reject(new Error(`the NATS publisher exited (${code}) before it was ready`)),
      );
    });
    const rates: number[] = [];
    for (let round = 0; round < NATS_ROUNDS + 1; round++) {
      received = 0;
      await nc.request(control, new TextEncoder().encode(String(NATS_MESSAGES)), {
        timeout: REQUEST_TIMEOUT_MS,
      });
      const deadline = performance.now() + CEILING_DRAIN_MS;
      while (received < NATS_MESSAGES && performance.now() < deadline) await sleep(POLL_MS);
      if (round > 0) rates.push(received / ((last - first) / 1000)); // round 0 warms both up
    }
    nc.publish(control, new TextEncoder().encode("0"));
    await nc.flush();
    return Math.max(...rates);
  } finally {
    sink.unsubscribe();
    await stopChild(child);
  }
}

/** Pipelined HSETs/s on one Redis connection: the best round after a warm-up one. */
async function measureRedisCeiling(redis: Redis): Promise<number> {
  const key = `${PREFIX}ceiling`;
  const value = Buffer.alloc(8);
  const rates: number[] = [];
  for (let round = 0; round < REDIS_ROUNDS + 1; round++) {
    const started = performance.now();
    for (let done = 0; done < REDIS_OPS; done += REDIS_PIPELINE) {
      const pipeline = redis.pipeline();
      for (let i = 0; i < REDIS_PIPELINE; i++) pipeline.hset(key, String(i), value);
      await pipeline.exec();
    }
    if (round > 0) rates.push(REDIS_OPS / ((performance.now() - started) / 1000));
  }
  await redis.del(key);
  return Math.max(...rates);
}

// ---- the world and its senders --------------------------------------------------------------------

/** Send times are kept per sender in a ring indexed by batch sequence number. */
const SEQ_RING = 1 << 16;
const SEQ_MASK = SEQ_RING - 1;

/** A client agent: owns some objects and sends their moves as one `updates` batch per tick. */
class Sender {
  readonly sentAt = new Float64Array(SEQ_RING);
  private seq = 0;

  constructor(
    readonly index: number,
    readonly nc: NatsConnection,
    readonly doIds: readonly number[],
  ) {}

  /** The next batch: every object moves; x carries the batch number, y the sender (exact in a float32). */
  nextBatch(): { body: messages.UpdateBatch; size: number } {
    const seq = ++this.seq;
    const updates: [number, number, Uint8Array][] = this.doIds.map((doId) => [
      doId,
      setXY.id,
      packField(setXY, [seq, this.index]),
    ]);
    this.sentAt[seq & SEQ_MASK] = performance.now();
    return { body: { groups: [[0, updates]] }, size: updates.length };
  }
}

/** Subscribers on the 10 location subjects: count what is delivered and how long after its publish. */
class Observer {
  delivered = 0;
  messages = 0;
  /** A subscription's failure (e.g. NATS dropping a slow consumer): fails the case. */
  error: Error | undefined;
  readonly histogram = microsecondHistogram();

  constructor(
    readonly nc: NatsConnection,
    private readonly senders: readonly Sender[],
  ) {
    for (let zone = 0; zone < ZONES; zone++) {
      nc.subscribe(subject.location(zone), {
        callback: (error, msg) => {
          if (error) this.error ??= error;
          else this.onDelivery(msg.data);
        },
      });
    }
  }

  private onDelivery(data: Uint8Array): void {
    const now = performance.now();
    const delivery = decodeEnvelope(data) as { kind: string; updates?: [number, number, Uint8Array][] };
    if (delivery.kind !== "update" || !delivery.updates) return;
    this.messages++;
    for (const [, , bytes] of delivery.updates) {
      const [seq, who] = unpackField(setXY, bytes) as number[];
      const sender = this.senders[who! % SENDERS]!;
      const micros = Math.round((now - sender.sentAt[seq! & SEQ_MASK]!) * 1000);
      this.histogram.recordValue(Math.max(1, micros));
      this.delivered++;
    }
  }
}

async function inChunks<T>(count: number, chunk: number, make: (i: number) => Promise<T>): Promise<T[]> {
  const out: T[] = [];
  for (let start = 0; start < count; start += chunk) {
    const size = Math.min(chunk, count - start);
    out.push(...(await Promise.all(Array.from({ length: size }, (_, i) => make(start + i)))));
  }
  return out;
}

/** 1,000 movers in 10 zones of one parent: object i is in zone i % 10. */
function createMovers(nc: NatsConnection): Promise<number[]> {
  const origin = packField(setXY, [0, 0]);
  return inChunks(OBJECTS, CREATE_CONCURRENCY, async (i) => {
    const body = {
      classId: Mover.id,
      parentId: PARENT,
      zoneId: i % ZONES,
      fields: [[setXY.id, origin]],
    };
    const reply = await request<{ doId: number }>(
      nc,
      subject.service("ss", "create"),
      body,
      REQUEST_TIMEOUT_MS,
    );
    return Number(reply.doId);
  });
}

function createAccounts(nc: NatsConnection): Promise<number[]> {
  const zero = packField(setScore, [0]);
  return inChunks(DB_OBJECTS, CREATE_CONCURRENCY, async () => {
    const body = { classId: Account.id, fields: [[setScore.id, zero]] };
    const reply = await request<{ doId: number }>(
      nc,
      subject.service("db", "create"),
      body,
      REQUEST_TIMEOUT_MS,
    );
    return Number(reply.doId);
  });
}

// ---- loads ----------------------------------------------------------------------------------------

interface Counters {
  /** The figure of the case: updates applied (or delivered), db writes acknowledged. */
  readonly work: number;
  /** Updates sent (the offered load). */
  readonly sent: number;
  /** Updates that reached a location subscriber. */
  readonly delivered: number;
  /** NATS messages between processes: requests, replies, publishes, deliveries. */
  readonly natsMessages: number;
  /** Updates the state server refused (in its `updates` replies). */
  readonly refused: number;
}

interface Load {
  readonly name: string;
  readonly histogram: Histogram;
  /** The first failure of any of its loops (which stops the load). */
  readonly error: Error | undefined;
  start(): void;
  /** Stops sending and waits for what is in flight. */
  stop(): Promise<void>;
  counters(): Counters;
}

/** Runs `count` loops of `step` until stopped; the first failure stops them all and is kept. */
class Loops {
  error: Error | undefined;
  private running = false;
  private loops: Promise<void>[] = [];

  get active(): boolean {
    return this.running && !shuttingDown;
  }

  start(count: number, step: (loop: number) => Promise<void>): void {
    this.running = true;
    this.loops = Array.from({ length: count }, (_, loop) => this.run(loop, step));
  }

  async stop(): Promise<void> {
    this.running = false;
    await Promise.all(this.loops);
  }

  private async run(loop: number, step: (loop: number) => Promise<void>): Promise<void> {
    try {
      while (this.active) await step(loop);
    } catch (error) {
      this.error ??= error as Error;
      this.running = false;
    }
  }
}

type Reply = { applied: number; refused: unknown[] };

/** Each sender keeps WINDOW `updates` requests in flight, back to back: the most the replicas take. */
function saturatedLoad(senders: readonly Sender[], observer: Observer): Load {
  const loops = new Loops();
  let applied = 0;
  let sent = 0;
  let requests = 0;
  let replies = 0;
  let refused = 0;
  const step = async (loop: number) => {
    const sender = senders[loop % senders.length]!;
    const batch = sender.nextBatch();
    sent += batch.size;
    requests++;
    const reply = await request<Reply>(
      sender.nc,
      subject.service("ss", "updates"),
      batch.body,
      REQUEST_TIMEOUT_MS,
    );
    replies++;
    applied += reply.applied;
    refused += reply.refused.length;
  };
  return {
    name: "saturated",
    histogram: observer.histogram,
    get error() {
      return loops.error ?? observer.error;
    },
    start: () => loops.start(senders.length * WINDOW, step),
    stop: () => loops.stop(),
    counters: () => ({
      work: applied,
      sent,
      delivered: observer.delivered,
      natsMessages: requests + replies + observer.messages,
      refused,
    }),
  };
}

/** One batch per sender per tick, published without waiting (as a client agent sends), ticks staggered. */
function pacedLoad(senders: readonly Sender[], observer: Observer, tickMs: number): Load {
  const loops = new Loops();
  let sent = 0;
  let published = 0;
  let origin = 0;
  const ticks = senders.map(() => 0);
  const step = async (loop: number) => {
    const sender = senders[loop]!;
    const due = origin + (loop * tickMs) / senders.length + ticks[loop]! * tickMs;
    ticks[loop]!++;
    const wait = due - performance.now();
    if (wait > 0) await sleep(wait);
    if (!loops.active) return;
    const batch = sender.nextBatch();
    sender.nc.publish(subject.service("ss", "updates"), encodeEnvelope(batch.body));
    sent += batch.size;
    published++;
  };
  return {
    name: "paced",
    histogram: observer.histogram,
    get error() {
      return loops.error ?? observer.error;
    },
    start: () => {
      origin = performance.now();
      loops.start(senders.length, step);
    },
    stop: async () => {
      await loops.stop();
      await Promise.all(senders.map((sender) => sender.nc.flush()));
    },
    counters: () => ({
      work: observer.delivered,
      sent,
      delivered: observer.delivered,
      natsMessages: published + observer.messages,
      refused: 0,
    }),
  };
}

/** `inFlight` writers, each on objects of its own, each waiting for its acknowledgement. */
function dbLoad(connections: readonly NatsConnection[], accounts: readonly number[], inFlight: number): Load {
  const loops = new Loops();
  const histogram = microsecondHistogram();
  const owned = Array.from({ length: inFlight }, (_, writer) =>
    accounts.filter((_, i) => i % inFlight === writer),
  );
  const written = owned.map(() => 0);
  let acknowledged = 0;
  let requests = 0;
  const step = async (writer: number) => {
    const n = ++written[writer]!;
    const mine = owned[writer]!;
    const body = {
      doId: mine[n % mine.length]!,
      fields: [[setScore.id, packField(setScore, [n])]],
    };
    const started = performance.now();
    requests++;
    await request(
      connections[writer % connections.length]!,
      subject.service("db", "set"),
      body,
      REQUEST_TIMEOUT_MS,
    );
    histogram.recordValue(Math.max(1, Math.round((performance.now() - started) * 1000)));
    acknowledged++;
  };
  return {
    name: "db set",
    histogram,
    get error() {
      return loops.error;
    },
    start: () => loops.start(inFlight, step),
    stop: () => loops.stop(),
    counters: () => ({
      work: acknowledged,
      sent: requests,
      delivered: acknowledged,
      natsMessages: requests + acknowledged,
      refused: 0,
    }),
  };
}

// ---- measuring ------------------------------------------------------------------------------------

interface Round {
  readonly seconds: number;
  readonly rate: number;
  readonly natsRate: number;
  readonly refused: number;
  readonly p50Us: number;
  readonly p99Us: number;
  readonly redisCallsRate: number;
  readonly redisEvalshaRate: number;
  /** Postgres transactions committed by the db writer, and rows in them (from the replicas' /metrics). */
  readonly commitRate: number;
  readonly rowsPerCommit: number;
  /** How long one of those transactions took, on average. */
  readonly commitMs: number;
  readonly cpu: Record<string, number>;
}

interface Context {
  readonly redis: Redis;
  /** Waits until what is in flight has arrived. */
  settle(): Promise<void>;
  readonly replicas: readonly Service[];
  readonly cpuGroups: CpuGroups;
}

/** Sums `<name>_sum` and `<name>_count` of a histogram over the replicas' /metrics. */
async function replicaHistogram(
  replicas: readonly Service[],
  name: string,
): Promise<{ sum: number; count: number }> {
  let sum = 0;
  let count = 0;
  for (const replica of replicas) {
    if (replica.port === 0) continue;
    try {
      const text = await (await fetch(`http://127.0.0.1:${replica.port}/metrics`)).text();
      for (const line of text.split("\n")) {
        const value = Number(line.slice(line.lastIndexOf(" ") + 1));
        if (line.startsWith(`${name}_sum`)) sum += value;
        else if (line.startsWith(`${name}_count`)) count += value;
      }
    } catch {
      // a replica without /metrics leaves the figure out
    }
  }
  return { sum, count };
}

async function snapshot(load: Load, context: Context) {
  const batches = await replicaHistogram(context.replicas, "ow_db_batch_rows");
  const commitSeconds = await replicaHistogram(context.replicas, "ow_db_batch_seconds");
  const redis = await redisCounters(context.redis);
  const cpu = sampleCpu(context.cpuGroups);
  return { at: performance.now(), counters: load.counters(), redis, batches, commitSeconds, cpu };
}

interface Measured {
  readonly rounds: Round[];
  /** Over the whole case, warm-up included, once everything in flight has arrived. */
  readonly sent: number;
  readonly delivered: number;
}

/** Warms the load up, measures ROUNDS rounds of ROUND_MS, stops it and lets the last deliveries in. */
async function measure(label: string, load: Load, context: Context): Promise<Measured> {
  const rounds: Round[] = [];
  const start = load.counters();
  load.start();
  try {
    await sleep(WARMUP_MS);
    for (let i = 0; i < ROUNDS && !shuttingDown; i++) {
      process.stderr.write(`\r\x1b[K  ${label}: round ${i + 1}/${ROUNDS}`);
      load.histogram.reset();
      const before = await snapshot(load, context);
      await sleep(ROUND_MS);
      const after = await snapshot(load, context);
      if (load.error) throw new Error(`${label}: ${load.error.message}`);
      const seconds = (after.at - before.at) / 1000;
      const per = (a: number, b: number) => (b - a) / seconds;
      const commits = after.batches.count - before.batches.count;
      rounds.push({
        seconds,
        rate: per(before.counters.work, after.counters.work),
        natsRate: per(before.counters.natsMessages, after.counters.natsMessages),
        refused: after.counters.refused - before.counters.refused,
        p50Us: load.histogram.getValueAtPercentile(50),
        p99Us: load.histogram.getValueAtPercentile(99),
        redisCallsRate: per(before.redis.calls, after.redis.calls),
        redisEvalshaRate: per(before.redis.evalsha, after.redis.evalsha),
        commitRate: commits / seconds,
        rowsPerCommit: commits > 0 ? (after.batches.sum - before.batches.sum) / commits : 0,
        commitMs: commits > 0 ? ((after.commitSeconds.sum - before.commitSeconds.sum) / commits) * 1000 : 0,
        cpu: cpuBetween(before.cpu, after.cpu),
      });
    }
  } finally {
    await load.stop();
    await context.settle();
    process.stderr.write("\r\x1b[K");
  }
  if (load.error) throw new Error(`${label}: ${load.error.message}`);
  const end = load.counters();
  return { rounds, sent: end.sent - start.sent, delivered: end.delivered - start.delivered };
}

/** The medians of a case's rounds, with the spread of its main figure. */
interface CaseResult {
  readonly name: string;
  readonly replicas: number;
  readonly kind: "updates" | "db";
  readonly rate: number;
  readonly rateMin: number;
  readonly rateMax: number;
  /** Delivered / sent over the whole case. */
  readonly deliveredShare: number;
  readonly natsRate: number;
  readonly refused: number;
  readonly p50Us: number;
  readonly p99Us: number;
  readonly redisCallsRate: number;
  readonly redisEvalshaRate: number;
  readonly commitRate: number;
  readonly rowsPerCommit: number;
  readonly commitMs: number;
  readonly cpu: Record<string, number>;
  readonly rounds: readonly Round[];
}

function summarize(name: string, replicas: number, kind: CaseResult["kind"], measured: Measured): CaseResult {
  const { rounds } = measured;
  const of = (pick: (round: Round) => number) => median(rounds.map(pick));
  const rates = rounds.map((round) => round.rate);
  const cpu: Record<string, number> = {};
  for (const group of Object.keys(rounds[0]!.cpu)) cpu[group] = of((round) => round.cpu[group]!);
  return {
    name,
    replicas,
    kind,
    rate: median(rates),
    rateMin: Math.min(...rates),
    rateMax: Math.max(...rates),
    deliveredShare: measured.sent > 0 ? measured.delivered / measured.sent : 0,
    natsRate: of((r) => r.natsRate),
    refused: rounds.reduce((sum, r) => sum + r.refused, 0),
    p50Us: of((r) => r.p50Us),
    p99Us: of((r) => r.p99Us),
    redisCallsRate: of((r) => r.redisCallsRate),
    redisEvalshaRate: of((r) => r.redisEvalshaRate),
    commitRate: of((r) => r.commitRate),
    rowsPerCommit: of((r) => r.rowsPerCommit),
    commitMs: of((r) => r.commitMs),
    cpu,
    rounds,
  };
}

// ---- report ---------------------------------------------------------------------------------------

function rate(perSecond: number): string {
  if (perSecond >= 1e6) return `${(perSecond / 1e6).toFixed(2)}M`;
  if (perSecond >= 1e3) return `${(perSecond / 1e3).toFixed(1)}k`;
  return perSecond.toFixed(0);
}

function ms(micros: number): string {
  return micros >= 10_000 ? `${(micros / 1000).toFixed(0)} ms` : `${(micros / 1000).toFixed(2)} ms`;
}

function percent(part: number, whole: number): string {
  const value = (part / whole) * 100;
  return value >= 10 ? `${value.toFixed(0)}%` : `${value.toFixed(1)}%`;
}

function table(header: string[], rows: string[][]): void {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i]!)).join("  ");
  console.log(line(header));
  console.log(widths.map((w) => "-".repeat(w)).join("  "));
  for (const row of rows) console.log(line(row));
  console.log();
}

interface Ceilings {
  readonly nats: number;
  readonly natsMeasured: boolean;
  readonly redis: number;
  readonly redisMeasured: boolean;
}

function report(cases: readonly CaseResult[], ceilings: Ceilings): void {
  const natsSource = ceilings.natsMeasured ? "measured now" : "the issue's figure";
  const redisSource = ceilings.redisMeasured ? "measured now" : "the issue's figure";
  table(
    ["ceiling", "measured", "issue"],
    [
      [
        `NATS msgs/s, Node process to Node process (${NATS_PAYLOAD_BYTES} B)`,
        `${rate(ceilings.nats)}/s (${natsSource})`,
        `${rate(ISSUE_NATS_CEILING)}/s`,
      ],
      [
        `Redis pipelined HSET/s, one connection (pipelines of ${REDIS_PIPELINE})`,
        `${rate(ceilings.redis)}/s (${redisSource})`,
        `${rate(ISSUE_REDIS_CEILING)}/s`,
      ],
    ],
  );
  table(
    ["case", "per second [min-max]", "p50", "p99", "delivered", "refused"],
    cases.map((c) => [
      c.name,
      `${rate(c.rate)} ${c.kind === "db" ? "writes" : "updates"}/s [${rate(c.rateMin)}-${rate(c.rateMax)}]`,
      ms(c.p50Us),
      ms(c.p99Us),
      c.kind === "db" ? "-" : percent(c.deliveredShare, 1),
      String(c.refused),
    ]),
  );
  const shares = (value: number, measured: number, issue: number) =>
    `${percent(value, measured)} / ${percent(value, issue)}`;
  table(
    [
      "case (shares: of the measured ceiling / of the issue's)",
      "NATS msgs/s",
      "of NATS",
      "rate as 1 msg/update, of NATS",
      "Redis EVALSHA/s",
      "of Redis",
      "Redis cmds/s",
      "cmds/op",
      "commits/s (rows, ms each)",
    ],
    cases.map((c) => [
      c.name,
      rate(c.natsRate),
      shares(c.natsRate, ceilings.nats, ISSUE_NATS_CEILING),
      shares(c.rate, ceilings.nats, ISSUE_NATS_CEILING),
      rate(c.redisEvalshaRate),
      shares(c.redisEvalshaRate, ceilings.redis, ISSUE_REDIS_CEILING),
      rate(c.redisCallsRate),
      (c.redisCallsRate / c.rate).toFixed(2),
      c.commitRate > 0
        ? `${rate(c.commitRate)} (${c.rowsPerCommit.toFixed(1)}, ${c.commitMs.toFixed(1)})`
        : "-",
    ]),
  );
  const groups = Object.keys(cases[0]?.cpu ?? {});
  const perOp = (c: CaseResult, group: string) => ((c.cpu[group]! * 10_000) / c.rate).toFixed(1);
  table(
    ["case (CPU in % of one core; machine: % of all cores)", ...groups, "replicas µs/op", "redis µs/op"],
    cases.map((c) => [
      c.name,
      ...groups.map((g) => `${c.cpu[g]!.toFixed(0)}%`),
      perOp(c, "replicas"),
      perOp(c, "redis"),
    ]),
  );
  console.log(
    [
      "per second: median of rounds; p50/p99: publish to delivery on the location subject (updates),",
      "request to acknowledgement (db); delivered: updates seen by the location subscribers / updates sent.",
      "NATS msgs/s: requests + replies + publishes + deliveries, each one message between two processes;",
      "'rate as 1 msg/update': the case's rate as a share of the NATS ceiling, as if each update were its",
      "own message. Redis EVALSHA/s: the state server's requests on the wire (one script per batch or per",
      "db write), vs one connection's pipelined ceiling; cmds/s and cmds/op: every command Redis ran,",
      "scripts' inner commands included (all clients of this Redis), per update or per write.",
      "CPU from /proc: others = the rest of this shared machine; µs/op = CPU time per update (or write).",
    ].join("\n"),
  );
}

// ---- the run --------------------------------------------------------------------------------------

interface Connections {
  nc?: NatsConnection;
  redis?: Redis;
  /** The driver's connection to the run's Redis Cluster (--redis-cluster). */
  clusterRedis?: Redis;
  pool?: Pool;
  extra: NatsConnection[];
}

const opened: Connections = { extra: [] };
let cleaning: Promise<void> | undefined;

/** One step of the clean-up: a failure is reported and the next step runs anyway. */
async function step(what: string, work: () => Promise<unknown>): Promise<void> {
  try {
    await work();
  } catch (error) {
    process.stderr.write(`  clean-up: could not ${what}: ${(error as Error).message}\n`);
  }
}

/** Stops the services and removes everything this run created. Runs once, whatever happened. */
function cleanUp(): Promise<void> {
  shuttingDown = true;
  cleaning ??= (async () => {
    const { nc, redis, pool } = opened;
    await step("stop the services", () => Promise.all([...children].map(stopChild)));
    await step("remove the .dc file", async () => rmSync(DC_PATH, { force: true }));
    await step("close the NATS connections", () => Promise.all(opened.extra.map((extra) => extra.close())));
    if (redis) {
      await step(`delete the Redis keys ${PREFIX}*`, async () => {
        let cursor = "0";
        do {
          const [next, keys] = await redis.scan(cursor, "MATCH", `${PREFIX}*`, "COUNT", 1000);
          if (keys.length > 0) await redis.del(...keys);
          cursor = next;
        } while (cursor !== "0");
        await redis.quit();
      });
    }
    if (pool) {
      await step(`drop the Postgres schemas ${SS_SCHEMA}, ${MD_SCHEMA}`, async () => {
        for (const schema of [SS_SCHEMA, MD_SCHEMA, `${SS_SCHEMA}_rc`, `${MD_SCHEMA}_rc`]) {
          await pool.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
        }
        await pool.end();
      });
    }
    if (nc) await step("close the driver's NATS connection", () => nc.close());
    if (REDIS_CLUSTER) {
      await step("stop the run's Redis Cluster", async () => {
        opened.clusterRedis?.disconnect();
        await redisCluster?.stop();
        rmSync(REDIS_CLUSTER_DIR, { recursive: true, force: true });
      });
    }
    // the NATS and its directory (the trust, and JetStream with the director's event log) go together
    await step("stop the run's NATS", async () => {
      await nats?.stop();
      rmSync(NATS_DIR, { recursive: true, force: true });
    });
  })();
  return cleaning;
}

async function connectMore(count: number, name: string): Promise<NatsConnection[]> {
  const out = await Promise.all(Array.from({ length: count }, (_, i) => connectAnywhere(`${name}-${i}`)));
  opened.extra.push(...out);
  return out;
}

async function ceilings(nc: NatsConnection, redis: Redis): Promise<Ceilings> {
  process.stderr.write("  ceilings: NATS publisher child -> this process, Redis pipelined HSET\n");
  let nats = ISSUE_NATS_CEILING;
  let natsMeasured = false;
  try {
    nats = await measureNatsCeiling(nc);
    natsMeasured = true;
  } catch (error) {
    process.stderr.write(
      `  NATS ceiling not measured (${(error as Error).message}); using the issue's figure\n`,
    );
  }
  let redisCeiling = ISSUE_REDIS_CEILING;
  let redisMeasured = false;
  try {
    redisCeiling = await measureRedisCeiling(redis);
    redisMeasured = true;
  } catch (error) {
    process.stderr.write(
      `  Redis ceiling not measured (${(error as Error).message}); using the issue's figure\n`,
    );
  }
  return { nats, natsMeasured, redis: redisCeiling, redisMeasured };
}

/**
 * The cases on one Redis backend: a message director and state servers using `redisUrl`, the objects
 * created afresh, then every case; its services are stopped at the end. `label` starts each case's name.
 */
async function backendCases(
  label: string,
  nc: NatsConnection,
  redis: Redis,
  redisPids: number[],
): Promise<CaseResult[]> {
  process.stderr.write("  starting the message director and a state server\n");
  const director = await startService(
    "message director",
    DIRECTOR_MAIN,
    directorEnv(),
    "message director ready",
  );
  const replicas = [await startReplica(1)];
  const movers = await createMovers(nc);
  const accounts = await createAccounts(nc);

  const senderConnections = await connectMore(SENDERS, `${TAG}-sender`);
  const perSender = OBJECTS / SENDERS;
  const senders = senderConnections.map(
    (connection, i) => new Sender(i, connection, movers.slice(i * perSender, (i + 1) * perSender)),
  );
  const [observerConnection] = await connectMore(1, `${TAG}-observer`);
  const observer = new Observer(observerConnection!, senders);
  await observerConnection!.flush();
  const dbConnections = await connectMore(DB_CONNECTIONS, `${TAG}-db`);

  const natsPids = [nats!.process.pid ?? 0];
  const cpuGroups: CpuGroups = {
    replicas: () => replicas.map((replica) => replica.child.pid ?? 0),
    driver: () => [process.pid],
    director: () => [director.child.pid ?? 0],
    nats: () => natsPids,
    redis: () => redisPids,
    postgres: () => pidsNamed("postgres"),
  };
  const context: Context = { redis, replicas, cpuGroups, settle: () => settle(observer) };

  const cases: CaseResult[] = [];
  const named = (name: string) => `${label}${name}`;
  for (const count of [1, 2]) {
    while (replicas.length < count) {
      process.stderr.write(`  starting state server ${replicas.length + 1}\n`);
      replicas.push(await startReplica(replicas.length + 1));
    }
    const replicaLabel = `${count} replica${count > 1 ? "s" : ""}`;
    const window = `${SENDERS}x${WINDOW} batches of ${perSender} in flight`;
    const saturated = await measure(
      `${label}updates, ${replicaLabel}, saturated`,
      saturatedLoad(senders, observer),
      context,
    );
    cases.push(
      summarize(named(`updates, ${replicaLabel}, saturated (${window})`), count, "updates", saturated),
    );
    for (const tickMs of [TICK_MS, HEAVY_TICK_MS]) {
      const offered = `${rate((OBJECTS * 1000) / tickMs)}/s offered`;
      const paced = await measure(
        `${label}updates, ${replicaLabel}, paced`,
        pacedLoad(senders, observer, tickMs),
        context,
      );
      cases.push(
        summarize(
          named(`updates, ${replicaLabel}, paced (${tickMs} ms ticks, ${offered})`),
          count,
          "updates",
          paced,
        ),
      );
    }
    for (const inFlight of DB_IN_FLIGHT) {
      const name = named(`db set, ${replicaLabel} (${inFlight} in flight)`);
      try {
        const db = await measure(
          `${label}db set, ${replicaLabel}`,
          dbLoad(dbConnections, accounts, inFlight),
          context,
        );
        cases.push(summarize(name, count, "db", db));
      } catch (error) {
        // a write unanswered on a loaded shared machine ends this case, not the run (reported at the end)
        if (shuttingDown) throw error;
        failedCases.push(`${name}: ${(error as Error).message}`);
        process.stderr.write(`\n  ${name} failed: ${(error as Error).message}\n`);
      }
    }
  }

  await Promise.all([...replicas.map((replica) => stopChild(replica.child)), stopChild(director.child)]);
  await Promise.all(senderConnections.map((connection) => connection.close()));
  await observerConnection!.close();
  await Promise.all(dbConnections.map((connection) => connection.close()));
  return cases;
}

async function main(): Promise<void> {
  process.stderr.write(
    `cluster benchmark: ${ROUNDS} rounds of ${ROUND_MS} ms after ${WARMUP_MS} ms of warm-up per case, medians\n`,
  );
  writeFileSync(DC_PATH, DC_TEXT);
  const natsPort = await freeTcpPort();
  await ensureNatsTrust(NATS_DIR, { host: "127.0.0.1", port: natsPort });
  nats = await startNatsServer(NATS_DIR, { host: "127.0.0.1", port: natsPort });
  natsUrl = nats.url;
  const nc = await connectAnywhere(`${TAG}-driver`);
  opened.nc = nc;
  const redis = await connectRedis(REDIS_URL, `${TAG}-driver`);
  opened.redis = redis;
  const pool = await connectPostgres(DATABASE_URL, `${TAG}-driver`, 2);
  opened.pool = pool;

  const limits = await ceilings(nc, redis);

  const cases = await backendCases("", nc, redis, pidsNamed("redis-server"));
  if (REDIS_CLUSTER) {
    process.stderr.write("  starting a Redis Cluster: 3 masters, 3 replicas (startRedisCluster)\n");
    const ports: number[] = [];
    const busPorts: number[] = [];
    for (let i = 0; i < 6; i++) {
      ports.push(await freeTcpPort());
      busPorts.push(await freeTcpPort());
    }
    redisCluster = await startRedisCluster(REDIS_CLUSTER_DIR, { host: "127.0.0.1", ports, busPorts });
    redisUrl = redisCluster.url;
    schemaSuffix = "_rc";
    const clusterRedis = await connectRedis(redisUrl, `${TAG}-driver-cluster`);
    opened.clusterRedis = clusterRedis;
    cases.push(...(await backendCases("Redis Cluster 3+3: ", nc, clusterRedis, redisCluster.pids())));
  }

  report(cases, limits);
  for (const failure of failedCases) console.log(`case not measured: ${failure}`);
  if (JSON_OUT) {
    const json = {
      date: new Date().toISOString(),
      node: process.version,
      quick: QUICK,
      rounds: ROUNDS,
      roundMs: ROUND_MS,
      ceilings: limits,
      cases,
    };
    writeFileSync(JSON_OUT, JSON.stringify(json, null, 2));
  }
}

/** Lets the last deliveries of a case arrive: until none came for a while (or a few seconds passed). */
async function settle(observer: Observer): Promise<void> {
  const QUIET_MS = 150;
  const deadline = performance.now() + 5000;
  let seen = -1;
  while (observer.delivered !== seen && performance.now() < deadline) {
    seen = observer.delivered;
    await sleep(QUIET_MS);
  }
}

function run(): void {
  const watchdog = setTimeout(() => {
    process.stderr.write(`\ncluster benchmark: time limit of ${TIME_LIMIT_MS / 1000} s reached; stopping\n`);
    cleanUp().finally(() => process.exit(1));
  }, TIME_LIMIT_MS);
  // `on`, not `once`: tsx relays the signal a second time, and a repeat must not kill the clean-up
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    process.on(signal, () => {
      if (shuttingDown) return;
      process.stderr.write(`\ncluster benchmark: ${signal}; cleaning up\n`);
      cleanUp().finally(() => process.exit(1));
    });
  }
  main()
    .then(
      () => 0,
      (error: unknown) => {
        process.stderr.write(`\ncluster benchmark failed: ${(error as Error).stack ?? String(error)}\n`);
        return 1;
      },
    )
    .then(async (code) => {
      await cleanUp();
      clearTimeout(watchdog);
      process.exit(code);
    });
}

if (ROLE === "nats-publisher") {
  natsPublisherRole().then(
    () => process.exit(0),
    (error: unknown) => {
      process.stderr.write(`nats publisher failed: ${(error as Error).message}\n`);
      process.exit(1);
    },
  );
} else {
  run();
}
