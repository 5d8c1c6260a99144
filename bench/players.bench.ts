/**
 * Players benchmark (issue 4): N bots in ONE zone, everyone seeing everyone, each moving at 10 Hz,
 * through the real cluster on this machine: message director, state server, uberdog, client agent and
 * a zone-AI replica each a process of its own (as `pnpm overworld start` runs them), the demo world on a
 * 1x1 map (DEMO_GRID=1x1@400, no NPCs: the boss stands still, every update is a bot's step), and the
 * bot load tester (`pnpm overworld bots`) in a process of its own.
 *
 *   pnpm bench:players                               # N = 50, 200, 500; 3 runs each, medians
 *   pnpm bench:players --counts 50,200 --runs 1 --duration 10
 *   pnpm bench:players --json out.json
 *
 * Per N: delivered updates/s; end-to-end latency p50/p99 (a step's stamp on the sending bot to its
 * arrival at another, from the bots' report); bytes per delivered update (the client agent's UDP
 * payload bytes over the updates delivered); datagrams/s the client agent sends, against loopback UDP's
 * ~170k/s between two Node processes; and CPU µs per 1,000 delivered updates for each service, the bots
 * process, NATS and Redis, from /proc over the bots' measured window only, with the services' sum as a
 * ratio of Colyseus's figures (DESIGN.md).
 *
 * Before each run the benchmark waits (up to --quiet-wait seconds, default 300) until other work on
 * this shared machine uses under --quiet-cores cores (default 0.3), and every run reports what the
 * rest of the machine used during its window ("others"). Runs are interleaved (run 1 of every N,
 * then run 2, ...) so the machine's noise spreads over all of them. `--cpu-prof DIR` has every
 * service and the bots process write a CPU profile into DIR.
 */

import { writeFileSync } from "node:fs";
import { SERVICE_ORDER } from "../libs/cli/src/cluster-processes.ts";
import {
  type BotRunResult,
  runBotProcess,
  waitForIdleAgent,
  waitForQuietMachine,
} from "./support/bot-run.ts";
import { BenchCluster, namespace } from "./support/cluster.ts";
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

answerHelp(`usage: pnpm bench:players [--counts 50,200,500] [--runs 3] [--duration S] [--json FILE]
                          [--quiet-cores 0.3] [--quiet-wait 300] [--cpu-prof DIR]
N bots in one zone, everyone seeing everyone, 10 steps/s each; figures per N (see bench/RESULTS.md).
`);
const NAME = "players benchmark";
const COUNTS = countsArg([50, 200, 500]);
const RUNS = integerArg("--runs", 3);
const DURATION_SECONDS = numberArg("--duration", 20);
const WARMUP_SECONDS = numberArg("--warmup", 3);
const RAMP = numberArg("--ramp", 50);
/** Before each run: wait until other work on this shared machine uses less than this many cores. */
const QUIET_CORES = numberArg("--quiet-cores", 0.3);
/** ... but no longer than this (seconds); then the run goes ahead. */
const QUIET_WAIT_SECONDS = numberArg("--quiet-wait", 300);
const RATE_HZ = 10;
const JSON_OUT = pathArg("--json");
/** One zone, large enough that the bots spread out in it: everyone sees everyone. */
const GRID = "1x1@400";

/** Colyseus, everyone seeing everyone: server CPU µs per 1,000 delivered updates (DESIGN.md). */
const COLYSEUS_US_PER_1000: Readonly<Record<number, number>> = { 200: 290, 500: 100 };
/** A run's own time (ramp, warm-up, window) plus starting the bots and draining them afterwards. */
const RUN_OVERHEAD_SECONDS = 60 + QUIET_WAIT_SECONDS;
const START_SECONDS = 120;

function runSeconds(count: number): number {
  return count / RAMP + WARMUP_SECONDS + DURATION_SECONDS + RUN_OVERHEAD_SECONDS;
}

const cluster = new BenchCluster(namespace("players"), {
  zoneAiEnv: { DEMO_GRID: GRID, DEMO_NPCS_PER_ZONE: "0" },
  maxClients: Math.max(1024, ...COUNTS),
  nodeArgs: profileArgs(),
});

async function main(): Promise<void> {
  process.stderr.write(
    `${NAME}: N = ${COUNTS.join(", ")} bots in one zone at ${RATE_HZ} Hz; ${RUNS} run(s) each, ` +
      `${DURATION_SECONDS} s measured after ${WARMUP_SECONDS} s of warm-up\n`,
  );
  const runs = new Map<number, RunFigures[]>(COUNTS.map((count) => [count, []]));
  const raw: { count: number; run: number; result: BotRunResult }[] = [];
  for (let run = 1; run <= RUNS; run++) {
    for (const count of COUNTS) {
      await waitForIdleAgent(cluster);
      await waitForQuietMachine(cluster, QUIET_CORES, QUIET_WAIT_SECONDS);
      const label = `N=${count} run ${run}/${RUNS}`;
      process.stderr.write(`${NAME}: ${label}\n`);
      const result = await runBotProcess(cluster, {
        count,
        rate: RATE_HZ,
        durationSeconds: DURATION_SECONDS,
        warmupSeconds: WARMUP_SECONDS,
        ramp: RAMP,
        grid: GRID,
        label,
      });
      const figures = figuresOf(result);
      runs.get(count)!.push(figures);
      raw.push({ count, run, result });
      process.stderr.write(
        `${NAME}: ${label}: ${rate(figures.deliveredPerSecond)} delivered/s, p50 ${ms(figures.p50Ms)} ms, ` +
          `p99 ${ms(figures.p99Ms)} ms, ${rate(figures.datagramsSentPerSecond)} datagrams/s; cores: ${coresLine(figures)}` +
          `${figures.ok ? "" : `; PROBLEMS: ${figures.problems.join("; ")}`}\n`,
      );
    }
  }
  report(runs);
  if (JSON_OUT) {
    const medians = Object.fromEntries([...runs].map(([count, each]) => [count, medianOf(each)]));
    writeFileSync(
      JSON_OUT,
      JSON.stringify(
        {
          date: new Date().toISOString(),
          node: process.version,
          grid: GRID,
          rateHz: RATE_HZ,
          medians,
          runs: raw,
        },
        null,
        2,
      ),
    );
  }
}

function report(runs: ReadonlyMap<number, readonly RunFigures[]>): void {
  const rows = [...runs].map(([count, each]) => ({ count, each, med: medianOf(each) }));
  console.log(
    `\nN bots in one zone, ${RATE_HZ} Hz each; medians of ${RUNS} run(s), the runs in brackets; ` +
      `${DURATION_SECONDS} s measured per run\n`,
  );
  table(
    ["N", "steps sent/s", "delivered/s", "fan-out", "p50 ms", "p99 ms", "p99 ms (one clock)", "problems"],
    rows.map(({ count, each, med }) => [
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
      "bytes/update (UDP payload)",
      "with IP+UDP",
      "reliable layer (bots)",
    ],
    rows.map(({ count, each, med }) => [
      String(count),
      withRuns(each, (r) => r.datagramsSentPerSecond, rate),
      percent(med.udpCeilingShare),
      fixed(med.updatesPerDatagram, 1),
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
    rows.map(({ count, each, med }) => [
      String(count),
      ...CPU_GROUPS.filter((g) => g !== "others").map((group) => micros(med.usPer1000[group] ?? 0)),
      withRuns(each, (r) => r.serverUsPer1000, micros),
      micros(med.serverAndBrokersUsPer1000),
    ]),
  );
  table(
    ["N (cores used)", ...CPU_GROUPS, "machine"],
    rows.map(({ count, med }) => [
      String(count),
      ...CPU_GROUPS.map((group) => fixed(med.cores[group] ?? 0, 2)),
      percent(med.cores.machine ?? 0),
    ]),
  );
  table(
    ["N", "Colyseus µs/1,000", "services / Colyseus", "+NATS+Redis / Colyseus"],
    rows.map(({ count, each, med }) => {
      const baseline = COLYSEUS_US_PER_1000[count];
      if (baseline === undefined) return [String(count), "-", "-", "-"];
      return [
        String(count),
        String(baseline),
        withRuns(
          each,
          (r) => r.serverUsPer1000 / baseline,
          (v) => `${fixed(v, 2)}x`,
        ),
        `${fixed(med.serverAndBrokersUsPer1000 / baseline, 2)}x`,
      ];
    }),
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

const timeLimitMs = (START_SECONDS + RUNS * COUNTS.reduce((sum, count) => sum + runSeconds(count), 0)) * 1000;
runBenchmark(NAME, cluster, timeLimitMs, main);
