/**
 * One bot run against a BenchCluster: `pnpm overworld bots` in a process of its own (so that the bots'
 * CPU is theirs, not the benchmark's), its progress relayed, its JSON report read back, and meanwhile
 * the CPU of every process and the client agent's wire counters sampled twice a second. The figures are
 * taken over the bots' measured window only (after the ramp and the warm-up): between the first sample
 * inside it and the last one, so rates are over nearly the same seconds as the report's.
 */
import { once } from "node:events";
import { readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import type { BotReport } from "@overworld/bots";
import { CLI_ENTRY, SERVICE_ORDER, type ServiceName } from "../../libs/cli/src/cluster-processes.ts";
import type { BenchCluster } from "./cluster.ts";
import { type CpuGroups, type CpuSample, coresBetween, pidsNamed, sampleCpu } from "./cpu.ts";

const SAMPLE_MS = 500;
/** How long the bots' clients may take to be gone from the client agent after a run. */
const DRAIN_TIMEOUT_MS = 30_000;
/** After the last client left: their avatars' deletions and post-removes settle. */
const SETTLE_MS = 2000;
/** The bots process ends by itself; past this much beyond its planned time it is stopped. */
const OVERRUN_MS = 120_000;
const MS_PER_SECOND = 1000;

export interface BotRunOptions {
  readonly count: number;
  /** Walk steps per bot per second. */
  readonly rate: number;
  readonly durationSeconds: number;
  readonly warmupSeconds: number;
  /** Bots started per second. */
  readonly ramp: number;
  /** The demo world's map, as DEMO_GRID ("8x8@50"). */
  readonly grid: string;
  /** Prefixes the relayed progress lines. */
  readonly label: string;
}

/** The client agent's counters, per second over the window. */
export interface AgentRates {
  readonly datagramsSent: number;
  readonly bytesSent: number;
  readonly datagramsReceived: number;
  readonly bytesReceived: number;
}

export interface BotRunResult {
  readonly report: BotReport;
  /** Seconds between the first and the last sample inside the measured window. */
  readonly sampledSeconds: number;
  /**
   * Cores used over the window (CPU seconds per second) by each service, `bots`, `nats`, `redis`,
   * `postgres`, `others` (the rest of the machine), and `machine` (share of all cores busy, 0 to 1).
   */
  readonly cores: Readonly<Record<string, number>>;
  readonly agent: AgentRates;
}

interface Sample {
  readonly cpu: CpuSample;
  /** When the agent's counters were read (the middle of the request). */
  readonly agentAt: number;
  readonly agent: ReadonlyMap<string, number>;
}

/** The bots process, its report, and the window's CPU and wire figures. */
export async function runBotProcess(cluster: BenchCluster, options: BotRunOptions): Promise<BotRunResult> {
  if (cluster.failure) throw cluster.failure;
  const reportPath = join(
    tmpdir(),
    `overworld-bench-${cluster.ns.tag}-${options.label.replace(/\W+/g, "_")}.json`,
  );
  rmSync(reportPath, { force: true });
  const label = `bots ${options.label}`;
  const bots = cluster.processes.launch({
    label,
    entry: CLI_ENTRY,
    args: [
      "bots",
      ...["--count", String(options.count), "--rate", String(options.rate)],
      ...["--duration", String(options.durationSeconds), "--warmup", String(options.warmupSeconds)],
      ...["--ramp", String(options.ramp), "--grid", options.grid],
      ...["--uberdog", cluster.uberdogUrl, "--version", cluster.version, "--dc", cluster.dcFiles.join(",")],
      ...["--json", reportPath],
    ],
    env: { ...process.env, LOG_LEVEL: "warn" },
    nodeArgs: cluster.nodeArgs,
    onUnaskedExit: () => {}, // it ends by itself: awaited below
  });
  const output: string[] = [];
  const unlisten = cluster.listen(label, (line) => {
    if (line.startsWith("[")) process.stderr.write(`  [${options.label}] ${line}\n`);
    else output.push(line);
  });
  const exited = once(bots.child, "exit") as Promise<[number | null, NodeJS.Signals | null]>;
  const natsPids = cluster.nats ? [cluster.nats.process.pid ?? 0] : pidsNamed("nats-server");
  const redisPids = pidsNamed("redis-server");
  const groups: CpuGroups = {
    ...Object.fromEntries(
      SERVICE_ORDER.map((service: ServiceName) => [service, () => [cluster.pid(service)]]),
    ),
    bots: () => [bots.pid],
    nats: () => natsPids,
    redis: () => redisPids,
    postgres: () => pidsNamed("postgres"),
  };
  const samples: Sample[] = [];
  let running = true;
  const sampling = (async () => {
    while (running) {
      const cpu = sampleCpu(groups);
      const asked = Date.now();
      const agent = await cluster.agentMetrics().catch(() => undefined);
      if (agent) samples.push({ cpu, agentAt: (asked + Date.now()) / 2, agent });
      await sleep(Math.max(0, SAMPLE_MS - (Date.now() - cpu.at)));
    }
  })();
  const plannedMs =
    (options.count / options.ramp + options.warmupSeconds + options.durationSeconds) * MS_PER_SECOND;
  const overrun = setTimeout(() => bots.child.kill("SIGTERM"), plannedMs + OVERRUN_MS);
  let code: number | null;
  let signal: NodeJS.Signals | null;
  try {
    [code, signal] = await exited;
  } finally {
    clearTimeout(overrun);
    running = false;
    await sampling;
    unlisten();
  }
  let report: BotReport;
  try {
    report = JSON.parse(readFileSync(reportPath, "utf8")) as BotReport;
  } catch {
    throw new Error(
      `the bots process (${signal ?? `exit ${code}`}) wrote no report to ${reportPath}:\n${output.join("\n")}`,
    );
  } finally {
    rmSync(reportPath, { force: true });
  }
  if (cluster.failure) throw cluster.failure;
  return { report, ...windowFigures(report, samples) };
}

/** The CPU and wire rates between the first and the last sample inside the report's measured window. */
function windowFigures(report: BotReport, samples: readonly Sample[]): Omit<BotRunResult, "report"> {
  const start = Date.parse(report.startedAt) + report.warmupSeconds * MS_PER_SECOND;
  const end = start + report.measuredSeconds * MS_PER_SECOND;
  const inside = samples.filter((sample) => sample.cpu.at >= start && sample.cpu.at <= end);
  const first = inside[0];
  const last = inside.at(-1);
  if (first === undefined || last === undefined || first === last) {
    throw new Error(
      `too few samples inside the measured window (${inside.length}): measure for at least ${(2 * SAMPLE_MS) / MS_PER_SECOND} s`,
    );
  }
  const seconds = (last.agentAt - first.agentAt) / MS_PER_SECOND;
  const rate = (name: string) =>
    ((last.agent.get(name) ?? 0) - (first.agent.get(name) ?? 0)) / Math.max(seconds, 1e-9);
  return {
    sampledSeconds: (last.cpu.at - first.cpu.at) / MS_PER_SECOND,
    cores: coresBetween(first.cpu, last.cpu),
    agent: {
      datagramsSent: rate("ow_client_agent_datagrams_sent_total"),
      bytesSent: rate("ow_client_agent_sent_bytes_total"),
      datagramsReceived: rate("ow_client_agent_datagrams_total"),
      bytesReceived: rate("ow_client_agent_received_bytes_total"),
    },
  };
}

/** How long a look at the rest of the machine's load lasts. */
const QUIET_LOOK_MS = 2000;

/**
 * The machine is shared: waits (up to `maxWaitSeconds`) until the processes that are not this
 * benchmark's use less than `maxOtherCores` over a couple of seconds, so that a run starts on a quiet
 * machine. Resolves with the cores the others used at the last look (the run goes ahead either way).
 */
export async function waitForQuietMachine(
  cluster: BenchCluster,
  maxOtherCores: number,
  maxWaitSeconds: number,
): Promise<number> {
  const groups: CpuGroups = {
    ours: () => [process.pid, ...cluster.processes.processes.map((managed) => managed.pid)],
  };
  const deadline = Date.now() + maxWaitSeconds * MS_PER_SECOND;
  let said = false;
  for (;;) {
    const before = sampleCpu(groups);
    await sleep(QUIET_LOOK_MS);
    const others = coresBetween(before, sampleCpu(groups)).others ?? 0;
    if (others < maxOtherCores) return others;
    if (Date.now() > deadline) {
      process.stderr.write(
        `  the machine is still busy (others use ${others.toFixed(2)} cores); going ahead\n`,
      );
      return others;
    }
    if (!said) {
      process.stderr.write(
        `  waiting for the machine to quieten: other processes use ${others.toFixed(2)} cores (up to ${maxWaitSeconds} s)\n`,
      );
      said = true;
    }
  }
}

/** Waits until the client agent has no client left from the last run, then lets the deletions settle. */
export async function waitForIdleAgent(cluster: BenchCluster): Promise<void> {
  const deadline = Date.now() + DRAIN_TIMEOUT_MS;
  for (;;) {
    if (cluster.failure) throw cluster.failure;
    const clients = (await cluster.agentMetrics()).get("ow_client_agent_clients") ?? 0;
    if (clients === 0) break;
    if (Date.now() > deadline) {
      throw new Error(
        `the client agent still has ${clients} clients ${DRAIN_TIMEOUT_MS / 1000} s after the run`,
      );
    }
    await sleep(SAMPLE_MS);
  }
  await sleep(SETTLE_MS);
}
