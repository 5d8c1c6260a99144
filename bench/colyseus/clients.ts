/**
 * The Colyseus side's clients, a process of their own: N @colyseus/sdk clients, started `--ramp` a
 * second, join one room of the Colyseus server (server.ts) and each sends its move 10 times a second
 * (`--rate`): x and y of a random walk over the same 400 x 400 map as the Overworld bots, rounded to
 * float32, and the send time, this process's clock in whole ms modulo 2^32. Every client decodes
 * every patch (the SDK does, into its copy of the room state) and, for each other player whose
 * send time changed in it, counts one delivered update and its latency: this process's clock when
 * the patch was decoded minus the send time, one clock for both ends. Every CHECK_EVERY-th delivery
 * is compared bit for bit with what its sender sent. After the ramp, a warm-up and the measured
 * window, the clients leave and the report (ClientsReport in shared.ts) goes to `--json FILE`;
 * progress goes to stdout once a second.
 *
 *   node --import tsx bench/colyseus/clients.ts --url http://127.0.0.1:2567 --count 200 --json out.json
 *     [--rate 10] [--duration 20] [--warmup 3] [--ramp 50] [--grid 1x1@400]
 */
import { writeFileSync } from "node:fs";
import { monitorEventLoopDelay } from "node:perf_hooks";
import { setTimeout as sleep } from "node:timers/promises";
import { Callbacks, Client, type Room } from "@colyseus/sdk";
import { extent, parseGrid } from "../../examples/demo/grid.ts";
import { LatencyBins, latencyMs, summarize, timeStamp } from "../../libs/bots/src/latency.ts";
import type { Tally } from "../../libs/bots/src/stats.ts";
import { RandomWalk } from "../../libs/bots/src/walk.ts";
import { argValue, integerArg, numberArg, pathArg } from "../support/figures.ts";
import {
  type BenchPlayer,
  BenchState,
  type ClientsReport,
  encodeMove,
  MOVE_BYTES,
  MOVE_MESSAGE,
  ROOM_NAME,
} from "./shared.ts";

const MS_PER_SECOND = 1000;
const MICROSECONDS_PER_MS = 1000;
const NANOSECONDS_PER_MS = 1e6;
const PROGRESS_PERIOD_MS = 1000;
/** Walking speed in map units per second, as the Overworld bots walk. */
const SPEED = 10;
/** One delivery in this many is checked bit for bit against what its sender sent. */
const CHECK_EVERY = 16;
/** Moves remembered per sender for the check: a delivery older than this many moves goes unchecked. */
const MOVES_KEPT = 64;
/** How long a client may take to join before it counts as failed. */
const JOIN_TIMEOUT_MS = 30_000;
/** How long leaving may take at the end before the process goes anyway. */
const LEAVE_TIMEOUT_MS = 10_000;
const LOOP_DELAY_RESOLUTION_MS = 10;
const MAX_EXAMPLES = 3;

const URL_ARG = argValue("--url");
const COUNT = integerArg("--count", 0);
const RATE = numberArg("--rate", 10);
const DURATION_SECONDS = numberArg("--duration", 20);
const WARMUP_SECONDS = numberArg("--warmup", 3);
const RAMP = numberArg("--ramp", 50);
const GRID = parseGrid(argValue("--grid") ?? "1x1@400");
const JSON_OUT = pathArg("--json");

/** This process's clock, ms: the one both ends of a delivery read. */
const now = () => performance.now();

/** Counters of the whole run and of the measured window, shared by every client of the process. */
class ClientsStats {
  sent = 0;
  delivered = 0;
  joined = 0;
  connected = 0;
  /** Other players followed, summed over the clients: N x (N - 1) when each follows every other once. */
  follows = 0;
  checked = 0;
  mismatched = 0;
  unmatched = 0;
  example: string | undefined;
  readonly failures = new Map<string, Tally>();
  readonly disconnects = new Map<string, Tally>();
  readonly recent = new LatencyBins();
  readonly measured = new LatencyBins();
  measuring = false;
  private untilCheck = CHECK_EVERY;
  /** Each sender's recent moves by send time, for the bit check: session id → sentAt → move. */
  private readonly moves = new Map<string, Map<number, { x: number; y: number }>>();
  /** Scratch for comparing float32 bit patterns. */
  private readonly floats = new Float32Array(2);
  private readonly bits = new Uint32Array(this.floats.buffer);

  recordSent(sessionId: string, sentAt: number, x: number, y: number): void {
    this.sent++;
    let moves = this.moves.get(sessionId);
    if (moves === undefined) this.moves.set(sessionId, (moves = new Map()));
    moves.set(sentAt, { x, y });
    if (moves.size > MOVES_KEPT) moves.delete(moves.keys().next().value!);
  }

  /** A client decoded another player's move: counted, timed, and now and then checked. */
  recordDelivered(senderId: string, player: BenchPlayer, sentAt: number): void {
    this.delivered++;
    const microseconds = Math.max(0, Math.round(latencyMs(now(), sentAt) * MICROSECONDS_PER_MS));
    this.recent.add(microseconds);
    if (this.measuring) this.measured.add(microseconds);
    if (--this.untilCheck > 0) return;
    this.untilCheck = CHECK_EVERY;
    const sent = this.moves.get(senderId)?.get(sentAt);
    if (sent === undefined) {
      this.unmatched++;
      return;
    }
    this.checked++;
    if (this.sameBits(sent.x, player.x) && this.sameBits(sent.y, player.y)) return;
    this.mismatched++;
    this.example ??= `${senderId} sent (${sent.x}, ${sent.y}) at ${sentAt}, received (${player.x}, ${player.y})`;
  }

  private sameBits(a: number, b: number): boolean {
    this.floats[0] = a;
    this.floats[1] = b;
    return this.bits[0] === this.bits[1];
  }
}

function tally(tallies: Map<string, Tally>, key: string, example: string): void {
  let entry = tallies.get(key);
  if (entry === undefined) tallies.set(key, (entry = { count: 0, examples: [] }));
  entry.count++;
  if (entry.examples.length < MAX_EXAMPLES && !entry.examples.includes(example)) entry.examples.push(example);
}

function total(tallies: ReadonlyMap<string, Tally>): number {
  let sum = 0;
  for (const entry of tallies.values()) sum += entry.count;
  return sum;
}

/** One player: joins, follows every other player's moves, walks. */
class BenchClient {
  private room: Room<unknown, BenchState> | undefined;
  private phaseTimer: ReturnType<typeof setTimeout> | undefined;
  private walkTimer: ReturnType<typeof setInterval> | undefined;
  private stopping = false;
  private gone = false;
  private readonly walk: RandomWalk;
  private readonly body = new Uint8Array(MOVE_BYTES);

  constructor(private readonly stats: ClientsStats) {
    const size = extent(GRID);
    this.walk = new RandomWalk(GRID, { x: Math.random() * size.x, y: Math.random() * size.y }, SPEED);
  }

  /** Joins the room `roomId`, or creates it (the first client) when there is none yet. */
  async join(client: Client, roomId: string | undefined): Promise<string> {
    const joining =
      roomId === undefined
        ? client.create(ROOM_NAME, {}, BenchState)
        : client.joinById(roomId, {}, BenchState);
    const room = await withTimeout(joining, JOIN_TIMEOUT_MS, "joining");
    this.room = room;
    if (this.stopping) {
      await room.leave();
      return room.roomId;
    }
    room.reconnection.enabled = false; // a lost connection is a problem of the run, not something to hide
    room.onDrop((code, reason) => this.lost(code, reason));
    room.onLeave((code, reason) => this.lost(code, reason));
    const callbacks = Callbacks.get(room);
    // (the schema builder's map type escapes the callbacks' inference: the values are BenchPlayers by session id)
    callbacks.onAdd("players", (value, key) => {
      const player = value as BenchPlayer;
      const sessionId = String(key);
      if (sessionId === room.sessionId) return; // its own moves come back too: not a delivery
      this.stats.follows++;
      callbacks.listen(
        player,
        "sentAt",
        (sentAt: number) => this.stats.recordDelivered(sessionId, player, sentAt),
        false,
      );
    });
    this.stats.joined++;
    this.stats.connected++;
    this.beginWalking();
    return room.roomId;
  }

  async stop(): Promise<void> {
    this.stopping = true;
    clearTimeout(this.phaseTimer);
    clearInterval(this.walkTimer);
    if (this.room === undefined || this.gone) return;
    this.gone = true;
    this.stats.connected--;
    await withTimeout(this.room.leave(), LEAVE_TIMEOUT_MS, "leaving").catch(() => {});
  }

  private beginWalking(): void {
    const periodMs = MS_PER_SECOND / RATE;
    // a random phase, so that the clients' moves spread over the period instead of leaving together
    this.phaseTimer = setTimeout(() => {
      this.step();
      this.walkTimer = setInterval(() => this.step(), periodMs);
    }, Math.random() * periodMs);
  }

  private step(): void {
    const room = this.room;
    if (room === undefined || this.gone) return;
    const pose = this.walk.step(1 / RATE);
    // float32 on the sender's side already, so that what arrives can be compared bit for bit
    const move = { x: Math.fround(pose.x), y: Math.fround(pose.y), sentAt: timeStamp(now()) };
    encodeMove(move, this.body);
    room.sendBytes(MOVE_MESSAGE, this.body);
    this.stats.recordSent(room.sessionId, move.sentAt, move.x, move.y);
  }

  private lost(code: number, reason: string | undefined): void {
    if (this.stopping || this.gone) return;
    this.gone = true;
    this.stats.connected--;
    clearTimeout(this.phaseTimer);
    clearInterval(this.walkTimer);
    tally(this.stats.disconnects, String(code), `${code}${reason ? `: ${reason}` : ""}`);
  }
}

function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${what} took over ${ms / MS_PER_SECOND} s`)), ms);
    promise.then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (error: unknown) => {
        clearTimeout(timer);
        reject(error);
      },
    );
  });
}

async function sleepUntil(at: number): Promise<void> {
  const ms = at - now();
  if (ms > 0) await sleep(ms);
}

/** Starts the clients RAMP a second; resolves once each joined or failed. */
async function rampUp(stats: ClientsStats, t0: number): Promise<BenchClient[]> {
  const sdk = new Client(URL_ARG!);
  const clients: BenchClient[] = [];
  const fail = (error: unknown) => {
    const message = (error as Error).message ?? String(error);
    tally(stats.failures, (error as Error).name ?? "Error", message);
  };
  // the first client creates the room, and every other joins that one by its id: one room for all
  const first = new BenchClient(stats);
  clients.push(first);
  let roomId: string;
  try {
    roomId = await first.join(sdk, undefined);
  } catch (error) {
    fail(error);
    for (let index = 1; index < COUNT; index++) fail(new Error("the room could not be created"));
    return clients;
  }
  const joins: Promise<unknown>[] = [];
  for (let index = 1; index < COUNT; index++) {
    await sleepUntil(t0 + (index * MS_PER_SECOND) / RAMP);
    const client = new BenchClient(stats);
    clients.push(client);
    joins.push(client.join(sdk, roomId).catch(fail));
  }
  await Promise.all(joins);
  return clients;
}

function startProgress(stats: ClientsStats, t0: number, phase: () => string): () => void {
  let last = { at: t0, sent: 0, delivered: 0 };
  const timer = setInterval(() => {
    const at = now();
    const seconds = (at - last.at) / MS_PER_SECOND;
    const latency = summarize(stats.recent.toHistogram());
    stats.recent.reset();
    const perSecond = (count: number) => Math.round(count / seconds);
    process.stdout.write(
      `[${String(Math.round((at - t0) / MS_PER_SECOND)).padStart(4)} s] ${phase().padEnd(7)} ` +
        `joined ${stats.joined}/${COUNT}  connected ${stats.connected}  failed ${total(stats.failures)}  ` +
        `sent ${perSecond(stats.sent - last.sent)}/s  delivered ${perSecond(stats.delivered - last.delivered)}/s  ` +
        (latency.samples === 0
          ? "latency -  "
          : `latency p50 ${latency.p50.toFixed(1)} ms p99 ${latency.p99.toFixed(1)} ms  `) +
        `disconnected ${total(stats.disconnects)}\n`,
    );
    last = { at, sent: stats.sent, delivered: stats.delivered };
  }, PROGRESS_PERIOD_MS);
  return () => clearInterval(timer);
}

async function main(): Promise<void> {
  if (URL_ARG === undefined)
    throw new Error("--url (the Colyseus server, e.g. http://127.0.0.1:2567) is missing");
  if (COUNT < 2) throw new Error("--count (the number of clients, 2 or more) is missing");
  if (JSON_OUT === undefined) throw new Error("--json (the file the report goes to) is missing");
  const stats = new ClientsStats();
  const startedAt = new Date();
  const t0 = now();
  let phase = "ramp";
  const stopProgress = startProgress(stats, t0, () => phase);

  const clients = await rampUp(stats, t0);
  // when no client joined there is nothing to measure: report the failures at once
  const waitMs = (seconds: number) => (stats.joined === 0 ? 0 : seconds * MS_PER_SECOND);
  phase = "warm-up";
  await sleepUntil(now() + waitMs(WARMUP_SECONDS));
  const warmupSeconds = (now() - t0) / MS_PER_SECOND;
  phase = "measure";
  const begin = { at: now(), sent: stats.sent, delivered: stats.delivered };
  const loopDelay = monitorEventLoopDelay({ resolution: LOOP_DELAY_RESOLUTION_MS });
  loopDelay.enable();
  stats.measuring = true;
  await sleepUntil(now() + waitMs(DURATION_SECONDS));
  stats.measuring = false;
  loopDelay.disable();
  const measuredSeconds = (now() - begin.at) / MS_PER_SECOND;
  const sent = stats.sent - begin.sent;
  const delivered = stats.delivered - begin.delivered;
  const connectedAtEnd = stats.connected;
  phase = "done";
  stopProgress();
  await Promise.all(clients.map((client) => client.stop()));

  const failed = total(stats.failures);
  const lost = total(stats.disconnects);
  const problems = [
    ...(failed > 0 ? [`${failed} of ${COUNT} clients failed to join`] : []),
    ...(stats.follows > stats.joined * (stats.joined - 1)
      ? [`the clients follow ${stats.follows} players, more than every other player once`]
      : []),
    ...(lost > 0 ? [`${lost} clients lost their connection`] : []),
    ...(stats.mismatched > 0 ? [`${stats.mismatched} of ${stats.checked} checked values differed`] : []),
    ...(stats.checked === 0 && delivered > 0 ? ["no delivery could be checked bit for bit"] : []),
  ];
  const perSecond = (count: number) => (measuredSeconds > 0 ? count / measuredSeconds : 0);
  const hasDelay = loopDelay.count > 0;
  const report: ClientsReport = {
    options: {
      count: COUNT,
      rate: RATE,
      durationSeconds: DURATION_SECONDS,
      warmupSeconds: WARMUP_SECONDS,
      ramp: RAMP,
      url: URL_ARG,
    },
    startedAt: startedAt.toISOString(),
    warmupSeconds,
    measuredSeconds,
    clients: { requested: COUNT, joined: stats.joined, failed, connectedAtEnd, follows: stats.follows },
    failures: Object.fromEntries(stats.failures),
    disconnects: Object.fromEntries(stats.disconnects),
    updates: {
      sent,
      delivered,
      sentPerSecond: perSecond(sent),
      deliveredPerSecond: perSecond(delivered),
      fanOut: sent === 0 ? 0 : delivered / sent,
      sentTotal: stats.sent,
      deliveredTotal: stats.delivered,
    },
    latencyMs: summarize(stats.measured.toHistogram()),
    bitCheck: {
      checked: stats.checked,
      mismatched: stats.mismatched,
      unmatched: stats.unmatched,
      ...(stats.example === undefined ? {} : { example: stats.example }),
    },
    process: {
      eventLoopDelayP99Ms: hasDelay ? loopDelay.percentile(99) / NANOSECONDS_PER_MS : 0,
      eventLoopDelayMaxMs: hasDelay ? loopDelay.max / NANOSECONDS_PER_MS : 0,
    },
    ok: problems.length === 0,
    problems,
  };
  writeFileSync(JSON_OUT, JSON.stringify(report, null, 2));
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    process.stderr.write(`colyseus clients: ${(error as Error).stack ?? String(error)}\n`);
    process.exit(1);
  },
);
