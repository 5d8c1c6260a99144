/**
 * CPU accounting from Linux's /proc: the CPU time each process has used (user + system, all its
 * threads), and how busy the whole machine is, so that a benchmark can say what each process spent
 * over a window it chooses. Without /proc (not Linux) every figure reads 0.
 */
import { spawnSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { availableParallelism } from "node:os";

/** Clock ticks per second of /proc's times (sysconf(_SC_CLK_TCK)); 100 on every Linux we run on. */
const CLOCK_TICKS_PER_SECOND = readClockTicks();
const UTIME_FIELD = 11;
const STIME_FIELD = 12;
/** /proc/stat's cpu line: user nice system idle iowait irq softirq steal. */
const STAT_FIELDS = 8;
const IDLE_FIELD = 3;
const IOWAIT_FIELD = 4;

export const CORES = availableParallelism();

function readClockTicks(): number {
  const out = spawnSync("getconf", ["CLK_TCK"], { encoding: "utf8" });
  const value = Number(out.stdout?.trim());
  return Number.isInteger(value) && value > 0 ? value : 100;
}

/** CPU seconds the process has used so far (user + system, every thread); 0 if it is gone. */
export function processCpuSeconds(pid: number): number {
  if (pid <= 0) return 0;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "latin1");
    // the command name (field 2) may hold spaces: count from the ')' that closes it
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(fields[UTIME_FIELD]) + Number(fields[STIME_FIELD])) / CLOCK_TICKS_PER_SECOND;
  } catch {
    return 0;
  }
}

/** The pids of the processes whose command name is `name` (nats-server, redis-server, postgres). */
export function pidsNamed(name: string): number[] {
  const out: number[] = [];
  const entries = existsSync("/proc") ? readdirSync("/proc") : [];
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readFileSync(`/proc/${entry}/comm`, "latin1").trim() === name) out.push(Number(entry));
    } catch {
      // it ended meanwhile
    }
  }
  return out;
}

/** CPU seconds of all cores since boot: busy, and in all. */
function machineSeconds(): { busy: number; total: number } {
  if (!existsSync("/proc/stat")) return { busy: 0, total: 0 };
  const line = readFileSync("/proc/stat", "latin1").split("\n")[0]!;
  const values = line
    .trim()
    .split(/\s+/)
    .slice(1, 1 + STAT_FIELDS)
    .map(Number);
  const total = values.reduce((a, b) => a + b, 0);
  const idle = values[IDLE_FIELD]! + values[IOWAIT_FIELD]!;
  return { busy: (total - idle) / CLOCK_TICKS_PER_SECOND, total: total / CLOCK_TICKS_PER_SECOND };
}

/** Which processes make up each group being accounted for (asked at every sample: pids may change). */
export type CpuGroups = Readonly<Record<string, () => readonly number[]>>;

export interface CpuSample {
  /** Date.now() when it was read. */
  readonly at: number;
  /** CPU seconds used so far by each process of each group, by pid. */
  readonly groups: Readonly<Record<string, ReadonlyMap<number, number>>>;
  readonly machine: { readonly busy: number; readonly total: number };
}

export function sampleCpu(groups: CpuGroups): CpuSample {
  const out: Record<string, Map<number, number>> = {};
  for (const [name, pids] of Object.entries(groups)) {
    out[name] = new Map(pids().map((pid) => [pid, processCpuSeconds(pid)]));
  }
  return { at: Date.now(), groups: out, machine: machineSeconds() };
}

/**
 * Cores each group used between two samples (CPU seconds per second: 1 is one core busy), `others`:
 * what the rest of the machine used (other work on a shared machine), and `machine`: the share of all
 * cores that was busy (0 to 1). A process that started meanwhile counts from 0; one that ended is left out.
 */
export function coresBetween(a: CpuSample, b: CpuSample): Record<string, number> {
  const seconds = (b.at - a.at) / 1000;
  const out: Record<string, number> = {};
  let ours = 0;
  for (const [name, after] of Object.entries(b.groups)) {
    const before = a.groups[name] ?? new Map<number, number>();
    let used = 0;
    for (const [pid, total] of after) used += total - (before.get(pid) ?? 0);
    out[name] = seconds > 0 ? used / seconds : 0;
    ours += used;
  }
  const busy = b.machine.busy - a.machine.busy;
  const total = b.machine.total - a.machine.total;
  out.others = total > 0 ? Math.max(0, ((busy - ours) / total) * CORES) : 0;
  out.machine = total > 0 ? busy / total : 0;
  return out;
}
