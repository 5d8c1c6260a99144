/**
 * A load process of a player benchmark (the Overworld bots, the Colyseus clients): launched among the
 * benchmark's processes (so that its CPU is its own, not the benchmark's), its progress lines relayed,
 * its JSON report read back when it ends by itself; meanwhile the CPU of the processes of interest and
 * the server side's counters are sampled twice a second. Figures are taken over the report's measured
 * window only (after the ramp and the warm-up): between the first sample inside it and the last one,
 * so rates are over nearly the same seconds as the report's.
 */
import { once } from "node:events";
import { readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import type { ManagedProcess } from "../../libs/cli/src/cluster-processes.ts";
import type { LocalCluster } from "../../libs/cli/src/local-cluster.ts";
import { type CpuGroups, type CpuSample, coresBetween, sampleCpu } from "./cpu.ts";

export const SAMPLE_MS = 500;
/** A load process ends by itself; past this much beyond its planned time it is stopped. */
const OVERRUN_MS = 120_000;
const MS_PER_SECOND = 1000;

export interface LoadProcessOptions {
  /** What the process is ("bots", "clients"): with the run's label it names the process and its report. */
  readonly kind: string;
  /** The run's label ("N=200 run 1/3"): prefixes the relayed progress lines. */
  readonly label: string;
  /** Its main module (run through tsx) and arguments; `--json <report path>` is added. */
  readonly entry: string;
  readonly args: readonly string[];
  readonly env: NodeJS.ProcessEnv;
  readonly nodeArgs?: readonly string[];
  /** How long it should run (ms); past this and OVERRUN_MS it is stopped. */
  readonly plannedMs: number;
  /** The CPU groups to sample (asked once the process is launched, so they may name it). */
  readonly groups: (load: ManagedProcess) => CpuGroups;
  /** The server side's counters, read with each CPU sample; a sample whose counters fail is dropped. */
  readonly counters: () => Promise<ReadonlyMap<string, number>>;
}

/** When a report's measured window was: what every load process's report says of it. */
export interface ReportWindow {
  /** When the process started (ISO 8601). */
  readonly startedAt: string;
  /** Seconds from the start to the measured window. */
  readonly warmupSeconds: number;
  readonly measuredSeconds: number;
}

export interface Sample {
  readonly cpu: CpuSample;
  /** When the counters were read (the middle of the request). */
  readonly countersAt: number;
  readonly counters: ReadonlyMap<string, number>;
}

/** Runs the load process to its end; resolves with its report and the samples taken meanwhile. */
export async function runLoadProcess<Report>(
  cluster: LocalCluster,
  options: LoadProcessOptions,
): Promise<{ readonly report: Report; readonly samples: readonly Sample[] }> {
  if (cluster.failure) throw cluster.failure;
  const reportPath = join(
    tmpdir(),
    `overworld-bench-${cluster.ns.tag}-${options.kind}-${options.label.replace(/\W+/g, "_")}.json`,
  );
  rmSync(reportPath, { force: true });
  const label = `${options.kind} ${options.label}`;
  const load = cluster.processes.launch({
    label,
    entry: options.entry,
    args: [...options.args, "--json", reportPath],
    env: options.env,
    nodeArgs: options.nodeArgs,
    onUnaskedExit: () => {}, // it ends by itself: awaited below
  });
  const output: string[] = [];
  const unlisten = cluster.listen(label, (line) => {
    if (line.startsWith("[")) process.stderr.write(`  [${options.label}] ${line}\n`);
    else output.push(line);
  });
  const exited = once(load.child, "exit") as Promise<[number | null, NodeJS.Signals | null]>;
  const groups = options.groups(load);
  const samples: Sample[] = [];
  let running = true;
  const sampling = (async () => {
    while (running) {
      const cpu = sampleCpu(groups);
      const asked = Date.now();
      const counters = await options.counters().catch(() => undefined);
      if (counters) samples.push({ cpu, countersAt: (asked + Date.now()) / 2, counters });
      await sleep(Math.max(0, SAMPLE_MS - (Date.now() - cpu.at)));
    }
  })();
  const overrun = setTimeout(() => load.child.kill("SIGTERM"), options.plannedMs + OVERRUN_MS);
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
  let report: Report;
  try {
    report = JSON.parse(readFileSync(reportPath, "utf8")) as Report;
  } catch {
    throw new Error(
      `the ${options.kind} process (${signal ?? `exit ${code}`}) wrote no report to ${reportPath}:\n${output.join("\n")}`,
    );
  } finally {
    rmSync(reportPath, { force: true });
  }
  if (cluster.failure) throw cluster.failure;
  return { report, samples };
}

export interface WindowFigures {
  /** Seconds between the first and the last CPU sample inside the measured window. */
  readonly sampledSeconds: number;
  /** Cores each CPU group used over the window, `others` and `machine` (see coresBetween). */
  readonly cores: Readonly<Record<string, number>>;
  /** Each asked counter's growth per second over the window. */
  readonly rates: Readonly<Record<string, number>>;
}

/** The CPU and counter rates between the first and the last sample inside the report's measured window. */
export function windowFigures(
  window: ReportWindow,
  samples: readonly Sample[],
  counterNames: readonly string[],
): WindowFigures {
  const start = Date.parse(window.startedAt) + window.warmupSeconds * MS_PER_SECOND;
  const end = start + window.measuredSeconds * MS_PER_SECOND;
  const inside = samples.filter((sample) => sample.cpu.at >= start && sample.cpu.at <= end);
  const first = inside[0];
  const last = inside.at(-1);
  if (first === undefined || last === undefined || first === last) {
    throw new Error(
      `too few samples inside the measured window (${inside.length}): measure for at least ${(2 * SAMPLE_MS) / MS_PER_SECOND} s`,
    );
  }
  const seconds = (last.countersAt - first.countersAt) / MS_PER_SECOND;
  const rates: Record<string, number> = {};
  for (const name of counterNames) {
    rates[name] =
      ((last.counters.get(name) ?? 0) - (first.counters.get(name) ?? 0)) / Math.max(seconds, 1e-9);
  }
  return {
    sampledSeconds: (last.cpu.at - first.cpu.at) / MS_PER_SECOND,
    cores: coresBetween(first.cpu, last.cpu),
    rates,
  };
}

/** How long the clients of a run may take to be gone from the server after it. */
const DRAIN_TIMEOUT_MS = 30_000;
/** After the last client left: what its leaving set off settles. */
const SETTLE_MS = 2000;

/**
 * Waits until the server has no client left from the last run (`clients()` reads how many it has),
 * then lets what their leaving set off settle (avatar deletions, post-removes, a room's disposal).
 */
export async function waitUntilNoClients(
  what: string,
  clients: () => Promise<number>,
  failure: () => Error | undefined,
): Promise<void> {
  const deadline = Date.now() + DRAIN_TIMEOUT_MS;
  for (;;) {
    const failed = failure();
    if (failed) throw failed;
    const left = await clients();
    if (left === 0) break;
    if (Date.now() > deadline) {
      throw new Error(
        `${what} still has ${left} clients ${DRAIN_TIMEOUT_MS / MS_PER_SECOND} s after the run`,
      );
    }
    await sleep(SAMPLE_MS);
  }
  await sleep(SETTLE_MS);
}
