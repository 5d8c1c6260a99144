/**
 * Players benchmark (issues 4 and 10): for each N, N players in one place, everyone seeing everyone,
 * each moving at 10 Hz, on Overworld and on Colyseus 0.18 in the same run, on this machine, the two
 * alternating run by run; medians side by side.
 *
 * Overworld: the real cluster on this machine: message director, state server, uberdog, client agent
 * and a zone-AI replica each a process of its own (as `pnpm overworld start` runs them), the demo world on
 * a 1x1 map (DEMO_GRID=1x1@400, no NPCs: the boss stands still, every update is a bot's step), and the
 * bot load tester (`pnpm overworld bots`) in a process of its own.
 *
 * Colyseus: a Colyseus 0.18 server (bench/colyseus/server.ts: @colyseus/core with @colyseus/ws-transport
 * on loopback, one room whose state is every player's x and y as float32 and a uint32 send time, patched
 * to everyone at 20 Hz, as the client agent ticks) in a process of its own, and N @colyseus/sdk clients
 * in another (bench/colyseus/clients.ts), each sending its move 10 times a second and decoding every patch.
 *
 *   pnpm bench:players                               # N = 50, 200, 500; 3 runs of each side, medians
 *   pnpm bench:players --quick                       # a smoke run: N = 20, 1 run, 5 s measured
 *   pnpm bench:players --counts 50,200 --runs 3 --duration 10 --json out.json
 *
 * Per N and side: delivered updates/s; moves sent of those planned; end-to-end latency p50/p99 (a move's
 * send time to its decoding by another client); bytes per delivered update (the payload bytes the server
 * side sent: the client agent's UDP payloads, the Colyseus server's WebSocket message payloads, over the
 * updates delivered); CPU µs per 1,000 delivered updates of the server processes (the five services; the
 * Colyseus server) and of every process of the side (with the bots or clients process, and for Overworld
 * NATS, Redis and Postgres), from /proc over the load process's measured window only. Overworld's own
 * tables add the client agent's datagrams and each service's share.
 *
 * Before each run the benchmark waits (up to --quiet-wait seconds, default 300) until other work on
 * this shared machine uses under --quiet-cores cores (default 0.3), and every run reports what the
 * rest of the machine used during its window ("others"). Runs are interleaved (run 1 of every N,
 * then run 2, ...; within a run the side that goes first alternates) so the machine's noise spreads over
 * all of them. `--cpu-prof DIR` has every process of both sides write a CPU profile into DIR.
 */

import { writeFileSync } from "node:fs";
import { SERVICE_ORDER } from "../libs/cli/src/cluster-processes.ts";
import { LocalCluster } from "../libs/cli/src/local-cluster.ts";
import { botThreads, runBotProcess, waitForIdleAgent, waitForQuietMachine } from "./support/bot-run.ts";
import {
  COLYSEUS_CPU_GROUPS,
  type ColyseusFigures,
  ColyseusServer,
  colyseusFiguresOf,
  medianOfColyseus,
} from "./support/colyseus-run.ts";
import { colyseusSide, comparisonOf, overworldSide, printComparison } from "./support/comparison.ts";
import {
  answerHelp,
  CPU_GROUPS,
  coresLine,
  countsArg,
  figuresOf,
  fixed,
  integerArg,
  LOOPBACK_UDP_CEILING,
  medianOf,
  micros,
  ms,
  numberArg,
  pathArg,
  percent,
  problemsCell,
  profileArgs,
  type RunFigures,
  rate,
  table,
  withRuns,
} from "./support/figures.ts";
import { runBenchmark } from "./support/lifecycle.ts";

answerHelp(`usage: pnpm bench:players [--counts 50,200,500] [--runs 3] [--duration S] [--warmup S] [--ramp R]
                          [--json FILE] [--quiet-cores 0.3] [--quiet-wait 300] [--cpu-prof DIR] [--bot-workers K]
                          [--agents K]
                          [--quick]
For each N: N players in one place, everyone seeing everyone, 10 moves/s each, on Overworld (the cluster
and the bots) and on Colyseus 0.18 (a server and @colyseus/sdk clients), alternating run by run; medians
side by side with the ratio Overworld / Colyseus (see bench/RESULTS.md).
  --runs R        runs of each side per N (default 3)
  --duration S    seconds measured per run (default 20), after the ramp and --warmup S (default 3)
  --json FILE     writes [{"n": N, "overworld": {...}, "colyseus": {...}}, ...], medians per N
  --bot-workers K the bots process spreads its bots over K worker threads (default 1: none)
  --agents K      Overworld runs K client agents (default 1); uberdog spreads the bots over them
  --quick         a smoke run: --counts 20 --runs 1 --duration 5 --quiet-wait 10 (each may still be given)
`);
const NAME = "players benchmark";
const QUICK = process.argv.includes("--quick");
const COUNTS = countsArg(QUICK ? [20] : [50, 200, 500]);
const RUNS = integerArg("--runs", QUICK ? 1 : 3);
const DURATION_SECONDS = numberArg("--duration", QUICK ? 5 : 20);
const WARMUP_SECONDS = numberArg("--warmup", 3);
const RAMP = numberArg("--ramp", 50);
/** Worker threads of the bots process (`pnpm overworld bots --workers`). */
const BOT_WORKERS = integerArg("--bot-workers", 1);
/** Client agents of the Overworld side (the client-agent figures are their sums). */
const AGENTS = integerArg("--agents", 1);
/** Before each run: wait until other work on this shared machine uses less than this many cores. */
const QUIET_CORES = numberArg("--quiet-cores", 0.3);
/** ... but no longer than this (seconds); then the run goes ahead. */
const QUIET_WAIT_SECONDS = numberArg("--quiet-wait", QUICK ? 10 : 300);
const RATE_HZ = 10;
const JSON_OUT = pathArg("--json");
/** One zone, large enough that the bots spread out in it: everyone sees everyone. The Colyseus clients walk the same map. */
const GRID = "1x1@400";

/** A run's own time (ramp, warm-up, window) plus starting the load process and draining it afterwards. */
const RUN_OVERHEAD_SECONDS = 60 + QUIET_WAIT_SECONDS;
const START_SECONDS = 120;
const SIDES = ["overworld", "colyseus"] as const;
type Side = (typeof SIDES)[number];

function runSeconds(count: number): number {
  return count / RAMP + WARMUP_SECONDS + DURATION_SECONDS + RUN_OVERHEAD_SECONDS;
}

const cluster = new LocalCluster({
  name: "players",
  onCrash: "fail",
  zoneAiEnv: { DEMO_GRID: GRID, DEMO_NPCS_PER_ZONE: "0" },
  maxClients: Math.max(1024, ...COUNTS),
  replicas: { "client-agent": AGENTS },
  nodeArgs: profileArgs(),
});
const colyseus = new ColyseusServer(cluster);

/** Every run's figures, by N. */
interface Runs {
  readonly overworld: RunFigures[];
  readonly colyseus: ColyseusFigures[];
}

async function main(): Promise<void> {
  process.stderr.write(
    `${NAME}: N = ${COUNTS.join(", ")} players in one place at ${RATE_HZ} Hz, on Overworld and on Colyseus; ` +
      `${RUNS} run(s) of each side per N, ${DURATION_SECONDS} s measured after ${WARMUP_SECONDS} s of warm-up; ` +
      `Overworld's bots in ${botThreads(BOT_WORKERS)}\n`,
  );
  await colyseus.start();
  const runs = new Map<number, Runs>(COUNTS.map((count) => [count, { overworld: [], colyseus: [] }]));
  for (let run = 1; run <= RUNS; run++) {
    for (const count of COUNTS) {
      // the side that goes first alternates, so that neither always runs after the other
      const order: readonly Side[] = run % 2 === 1 ? SIDES : [...SIDES].reverse();
      for (const side of order) {
        const label = `N=${count} run ${run}/${RUNS}`;
        if (side === "overworld") runs.get(count)!.overworld.push(await runOverworld(count, label));
        else runs.get(count)!.colyseus.push(await runColyseus(count, label));
      }
    }
  }
  report(runs);
  if (JSON_OUT) {
    const comparisons = [...runs].map(([count, each]) =>
      comparisonOf({
        count,
        overworld: each.overworld.map(overworldSide),
        colyseus: each.colyseus.map(colyseusSide),
      }),
    );
    writeFileSync(JSON_OUT, `${JSON.stringify(comparisons, null, 2)}\n`);
  }
}

async function runOverworld(count: number, label: string): Promise<RunFigures> {
  await waitForIdleAgent(cluster);
  await waitForQuietMachine(cluster, QUIET_CORES, QUIET_WAIT_SECONDS);
  process.stderr.write(`${NAME}: Overworld ${label}\n`);
  const result = await runBotProcess(cluster, {
    count,
    rate: RATE_HZ,
    durationSeconds: DURATION_SECONDS,
    warmupSeconds: WARMUP_SECONDS,
    ramp: RAMP,
    grid: GRID,
    workers: BOT_WORKERS,
    label,
  });
  const figures = figuresOf(result);
  process.stderr.write(
    `${NAME}: Overworld ${label}: ${rate(figures.deliveredPerSecond)} delivered/s, p50 ${ms(figures.p50Ms)} ms, ` +
      `p99 ${ms(figures.p99Ms)} ms, ${rate(figures.datagramsSentPerSecond)} datagrams/s; cores: ${coresLine(figures)}` +
      `${figures.ok ? "" : `; PROBLEMS: ${figures.problems.join("; ")}`}\n`,
  );
  return figures;
}

async function runColyseus(count: number, label: string): Promise<ColyseusFigures> {
  await colyseus.waitForIdle();
  await waitForQuietMachine(cluster, QUIET_CORES, QUIET_WAIT_SECONDS);
  process.stderr.write(`${NAME}: Colyseus ${label}\n`);
  const result = await colyseus.run({
    count,
    rate: RATE_HZ,
    durationSeconds: DURATION_SECONDS,
    warmupSeconds: WARMUP_SECONDS,
    ramp: RAMP,
    grid: GRID,
    label,
  });
  const figures = colyseusFiguresOf(result);
  process.stderr.write(
    `${NAME}: Colyseus ${label}: ${rate(figures.deliveredPerSecond)} delivered/s, p50 ${ms(figures.p50Ms)} ms, ` +
      `p99 ${ms(figures.p99Ms)} ms, ${rate(figures.messagesPerSecond)} messages/s; cores: ` +
      `${colyseusCpuGroups()
        .map((group) => `${group} ${fixed(figures.cores[group] ?? 0, 2)}`)
        .join(" · ")}` +
      `${figures.ok ? "" : `; PROBLEMS: ${figures.problems.join("; ")}`}\n`,
  );
  return figures;
}

/** The Colyseus side's CPU groups as printed: its processes, the idle cluster, the rest of the machine. */
function colyseusCpuGroups(): string[] {
  return [...Object.values(COLYSEUS_CPU_GROUPS), "others"];
}

function report(runs: ReadonlyMap<number, Runs>): void {
  console.log(
    `\nN players in one place, everyone seeing everyone, ${RATE_HZ} moves/s each; medians of ${RUNS} run(s) ` +
      `of each side, the runs in brackets; ${DURATION_SECONDS} s measured per run; ` +
      `Overworld's bots in ${botThreads(BOT_WORKERS)}\n`,
  );
  console.log("Overworld and Colyseus 0.18 side by side:\n");
  printComparison(
    [...runs].map(([count, each]) => ({
      count,
      overworld: each.overworld.map(overworldSide),
      colyseus: each.colyseus.map(colyseusSide),
    })),
  );
  console.log("Overworld (the cluster and the bots process):\n");
  reportOverworld([...runs].map(([count, each]) => ({ count, each: each.overworld })));
  console.log("\nColyseus 0.18 (the server and the clients process):\n");
  reportColyseus([...runs].map(([count, each]) => ({ count, each: each.colyseus })));
  console.log(
    [
      "Side by side: 'server CPU' is the five services / the Colyseus server; 'machine CPU' every process of the",
      "side (Overworld: the services, the bots process, NATS, Redis, Postgres; Colyseus: the server and the clients",
      "process); bytes per delivered update: the client agent's UDP payloads / the Colyseus server's WebSocket message",
      "payloads, over the updates delivered. Ratios are of the medians: above 1 Overworld has more of it.",
    ].join("\n"),
  );
}

function reportOverworld(rows: readonly { count: number; each: readonly RunFigures[] }[]): void {
  const withMedians = rows.map(({ count, each }) => ({ count, each, med: medianOf(each) }));
  table(
    ["N", "steps sent/s", "delivered/s", "fan-out", "p50 ms", "p99 ms", "p99 ms (one clock)", "problems"],
    withMedians.map(({ count, each, med }) => [
      String(count),
      `${rate(med.sentPerSecond)} of ${rate(count * RATE_HZ)}`,
      withRuns(each, (r) => r.deliveredPerSecond, rate),
      fixed(med.fanOut, 1),
      withRuns(each, (r) => r.p50Ms, ms),
      withRuns(each, (r) => r.p99Ms, ms),
      ms(med.localP99Ms),
      problemsCell(each),
    ]),
  );
  table(
    [
      "N",
      "agent datagrams/s",
      `of ${rate(LOOPBACK_UDP_CEILING)}/s`,
      "updates/datagram",
      "agent CPU µs/datagram (aim ≤ 15)",
      "bytes/update (UDP payload)",
      "with IP+UDP",
      "reliable layer (bots)",
    ],
    withMedians.map(({ count, each, med }) => [
      String(count),
      withRuns(each, (r) => r.datagramsSentPerSecond, rate),
      percent(med.udpCeilingShare),
      fixed(med.updatesPerDatagram, 1),
      withRuns(
        each,
        (r) => r.agentUsPerDatagram,
        (v) => fixed(v, 1),
      ),
      withRuns(
        each,
        (r) => r.bytesPerUpdate,
        (v) => fixed(v, 2),
      ),
      fixed(med.wireBytesPerUpdate, 2),
      fixed(med.reliableBytesPerUpdate, 2),
    ]),
  );
  table(
    [
      "N (CPU µs per 1,000 delivered updates)",
      ...CPU_GROUPS.filter((g) => g !== "others"),
      "services",
      "+NATS+Redis",
    ],
    withMedians.map(({ count, each, med }) => [
      String(count),
      ...CPU_GROUPS.filter((g) => g !== "others").map((group) => micros(med.usPer1000[group] ?? 0)),
      withRuns(each, (r) => r.serverUsPer1000, micros),
      micros(med.serverAndBrokersUsPer1000),
    ]),
  );
  table(
    ["N (cores used)", ...CPU_GROUPS, "machine"],
    withMedians.map(({ count, med }) => [
      String(count),
      ...CPU_GROUPS.map((group) => fixed(med.cores[group] ?? 0, 2)),
      percent(med.cores.machine ?? 0),
    ]),
  );
  console.log(
    [
      "steps sent/s: walk steps the bots sent, of the N x 10 asked (fewer when the bots process falls behind);",
      "delivered/s: steps of other bots' avatars received by the bots, measured window; fan-out: deliveries per step sent.",
      "p50/p99: the sender's cluster time stamped in the step to the receiver's cluster time on arrival (bots' report);",
      "'one clock': the same on the bots process's own clock (sender and receiver share it).",
      "bytes/update (UDP payload): what the client agent sent (netcode packets: prefix and sequence, reliable header",
      "with acks, message records, 16-byte MAC; keep-alives too) / updates delivered; 'with IP+UDP' adds 28 bytes a",
      "datagram; 'reliable layer (bots)': the bots' received reliable packets (no netcode header or MAC), whole run.",
      `CPU from /proc (utime+stime) over the measured window; services = ${SERVICE_ORDER.join(" + ")}.`,
    ].join("\n"),
  );
}

function reportColyseus(rows: readonly { count: number; each: readonly ColyseusFigures[] }[]): void {
  const withMedians = rows.map(({ count, each }) => ({ count, each, med: medianOfColyseus(each) }));
  table(
    [
      "N",
      "moves sent/s",
      "delivered/s",
      "fan-out",
      "p50 ms",
      "p99 ms",
      "bit-equal (checked)",
      "clients' loop delay p99 ms",
      "problems",
    ],
    withMedians.map(({ count, each, med }) => [
      String(count),
      `${rate(med.sentPerSecond)} of ${rate(count * RATE_HZ)}`,
      withRuns(each, (r) => r.deliveredPerSecond, rate),
      fixed(med.fanOut, 1),
      withRuns(each, (r) => r.p50Ms, ms),
      withRuns(each, (r) => r.p99Ms, ms),
      `${med.bitChecked - med.bitMismatched} of ${med.bitChecked}`,
      ms(med.clientsLoopDelayP99Ms),
      med.problems.length === 0 ? "none" : med.problems.join("; "),
    ]),
  );
  table(
    [
      "N",
      "server messages/s",
      "updates/message",
      "bytes/update (WebSocket payload)",
      "with WebSocket framing",
      "server µs/1,000",
      "server+clients µs/1,000",
    ],
    withMedians.map(({ count, each, med }) => [
      String(count),
      withRuns(each, (r) => r.messagesPerSecond, rate),
      fixed(med.messagesPerSecond > 0 ? med.deliveredPerSecond / med.messagesPerSecond : 0, 1),
      withRuns(
        each,
        (r) => r.bytesPerUpdate,
        (v) => fixed(v, 2),
      ),
      fixed(med.framedBytesPerUpdate, 2),
      withRuns(each, (r) => r.serverUsPer1000, micros),
      micros(med.machineUsPer1000),
    ]),
  );
  table(
    ["N (cores used)", ...colyseusCpuGroups(), "machine"],
    withMedians.map(({ count, med }) => [
      String(count),
      ...colyseusCpuGroups().map((group) => fixed(med.cores[group] ?? 0, 2)),
      percent(med.cores.machine ?? 0),
    ]),
  );
  console.log(
    [
      "moves sent/s: moves the clients sent, of the N x 10 asked; delivered/s: other players' moves decoded by the",
      "clients (each client's own move comes back in the patch too, and is not counted), measured window.",
      "p50/p99: the move's send time to the decoding of the patch carrying it, on the clients process's one clock.",
      "bit-equal: every 16th delivery's x and y against the float32 values its sender sent, all runs.",
      "bytes/update: WebSocket message payloads the server sent (patches mostly; counted in its transport's send) /",
      "updates delivered; 'with WebSocket framing' adds each message's frame header (2 or 4 bytes), not TCP/IP.",
      `overworld-idle: the Overworld cluster standing by meanwhile (services, NATS, Redis, Postgres).`,
    ].join("\n"),
  );
}

const timeLimitMs =
  (START_SECONDS + RUNS * SIDES.length * COUNTS.reduce((sum, count) => sum + runSeconds(count), 0)) * 1000;
runBenchmark(NAME, cluster, timeLimitMs, main);
