/**
 * One bot run against a LocalCluster: `pnpm overworld bots` in a process of its own (support/load-run.ts:
 * its progress relayed, its JSON report read back), and meanwhile the CPU of every process and the client
 * agent's wire counters sampled twice a second, taken over the bots' measured window only.
 */
import { setTimeout as sleep } from "node:timers/promises";
import type { BotReport } from "@overworld/bots";
import { CLI_ENTRY, SERVICE_ORDER, type ServiceName } from "../../libs/cli/src/cluster-processes.ts";
import type { LocalCluster } from "../../libs/cli/src/local-cluster.ts";
import { type CpuGroups, coresBetween, pidsNamed, sampleCpu } from "./cpu.ts";
import { runLoadProcess, waitUntilNoClients, windowFigures } from "./load-run.ts";

const MS_PER_SECOND = 1000;
/** The client agent's counters the run reads (sums over their label sets, from /metrics). */
const AGENT_COUNTERS = {
  datagramsSent: "ow_client_agent_datagrams_sent_total",
  bytesSent: "ow_client_agent_sent_bytes_total",
  datagramsReceived: "ow_client_agent_datagrams_total",
  bytesReceived: "ow_client_agent_received_bytes_total",
} as const;

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
  /** Worker threads the bots process spreads its bots over (`pnpm overworld bots --workers`); 1: none. */
  readonly workers: number;
  /** Prefixes the relayed progress lines. */
  readonly label: string;
}

/** The client agent's counters, per second over the window. */
export type AgentRates = { readonly [K in keyof typeof AGENT_COUNTERS]: number };

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

/** The CPU groups of an Overworld run besides its load process: each service, NATS, Redis and Postgres. */
export function clusterCpuGroups(cluster: LocalCluster): CpuGroups {
  const natsPids = cluster.nats
    ? cluster.nats.nodes.map((node) => node.process.pid ?? 0)
    : pidsNamed("nats-server");
  // a cluster with a Redis of its own counts that one alone (tests may run other redis-servers meanwhile)
  const redisPids = cluster.redis?.pid ? [cluster.redis.pid] : pidsNamed("redis-server");
  return {
    ...Object.fromEntries(
      SERVICE_ORDER.map((service: ServiceName) => [
        service,
        () => cluster.replicas(service).map((replica) => replica.pid ?? 0),
      ]),
    ),
    nats: () => natsPids,
    redis: () => redisPids,
    postgres: () => pidsNamed("postgres"),
  };
}

/** Where a run's bots run, for header lines: "one thread" or "2 worker threads". */
export function botThreads(workers: number): string {
  return workers === 1 ? "one thread" : `${workers} worker threads`;
}

/** The bots process, its report, and the window's CPU and wire figures. */
export async function runBotProcess(cluster: LocalCluster, options: BotRunOptions): Promise<BotRunResult> {
  const { report, samples } = await runLoadProcess<BotReport>(cluster, {
    kind: "bots",
    label: options.label,
    entry: CLI_ENTRY,
    args: [
      "bots",
      ...["--count", String(options.count), "--rate", String(options.rate)],
      ...["--duration", String(options.durationSeconds), "--warmup", String(options.warmupSeconds)],
      ...["--ramp", String(options.ramp), "--grid", options.grid, "--workers", String(options.workers)],
      ...["--uberdog", cluster.uberdogUrl, "--version", cluster.version, "--dc", cluster.dcFiles.join(",")],
    ],
    env: { ...process.env, LOG_LEVEL: "warn" },
    nodeArgs: cluster.nodeArgs,
    plannedMs:
      (options.count / options.ramp + options.warmupSeconds + options.durationSeconds) * MS_PER_SECOND,
    groups: (bots) => ({ ...clusterCpuGroups(cluster), bots: () => [bots.pid] }),
    counters: () => cluster.agentMetrics(),
  });
  const window = windowFigures(report, samples, Object.values(AGENT_COUNTERS));
  const rate = (name: string) => window.rates[name] ?? 0;
  return {
    report,
    sampledSeconds: window.sampledSeconds,
    cores: window.cores,
    agent: {
      datagramsSent: rate(AGENT_COUNTERS.datagramsSent),
      bytesSent: rate(AGENT_COUNTERS.bytesSent),
      datagramsReceived: rate(AGENT_COUNTERS.datagramsReceived),
      bytesReceived: rate(AGENT_COUNTERS.bytesReceived),
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
  cluster: LocalCluster,
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
export async function waitForIdleAgent(cluster: LocalCluster): Promise<void> {
  await waitUntilNoClients(
    "the client agent",
    async () => (await cluster.agentMetrics()).get("ow_client_agent_clients") ?? 0,
    () => cluster.failure,
  );
}
