/**
 * What the player benchmarks report of a bot run, derived from the bots' report and the window's CPU
 * and client-agent counters, their medians over repeated runs, and the printing of tables.
 */
import { resolve } from "node:path";
import { SERVICE_ORDER } from "../../libs/cli/src/cluster-processes.ts";
import type { BotRunResult } from "./bot-run.ts";

/** Datagrams/s loopback UDP carries between two Node processes on this machine (DESIGN.md). */
export const LOOPBACK_UDP_CEILING = 170_000;
/** IPv4 and UDP headers: on the wire with every datagram, outside what the counters count. */
export const IP_UDP_HEADER_BYTES = 28;
/** CPU groups besides the services: the bots process and the servers the cluster uses. */
export const OTHER_GROUPS = ["bots", "nats", "redis", "postgres", "others"] as const;
const MICROSECONDS_PER_SECOND = 1e6;
const PER_THOUSAND = 1000;

/** CPU µs spent per 1,000 updates delivered, from the cores a process used at a delivery rate. */
export function cpuUsPer1000(cores: number, deliveredPerSecond: number): number {
  return deliveredPerSecond > 0 ? ((cores * MICROSECONDS_PER_SECOND) / deliveredPerSecond) * PER_THOUSAND : 0;
}

export interface RunFigures {
  readonly count: number;
  /** Walk steps the bots sent in the measured window, and N x rate x the window's seconds. */
  readonly stepsSent: number;
  readonly stepsPlanned: number;
  readonly sentPerSecond: number;
  readonly deliveredPerSecond: number;
  readonly fanOut: number;
  /** End-to-end latency (ms), the bots' cluster clocks: set on one client to seen on another. */
  readonly p50Ms: number;
  readonly p99Ms: number;
  /** The same on the bots process's own clock (both ends are bots of one process): exact. */
  readonly localP50Ms: number;
  readonly localP99Ms: number;
  readonly latencySamples: number;
  /**
   * UDP payload bytes the client agent sent per delivered update, measured window: whole netcode
   * packets (netcode prefix and sequence, reliable header with acks, message records, 16-byte MAC),
   * keep-alives included; IP/UDP headers not.
   */
  readonly bytesPerUpdate: number;
  /** The same with the IPv4 + UDP headers (28 bytes a datagram). */
  readonly wireBytesPerUpdate: number;
  /**
   * The bots' own count, whole run: reliable-layer bytes received (reliable header, acks, message
   * records; no netcode header, no MAC, no keep-alives) per update delivered.
   */
  readonly reliableBytesPerUpdate: number;
  readonly datagramsSentPerSecond: number;
  readonly updatesPerDatagram: number;
  /** The client agent's CPU µs per datagram it sent (everything it does, spread over its datagrams). */
  readonly agentUsPerDatagram: number;
  /** datagramsSentPerSecond / LOOPBACK_UDP_CEILING. */
  readonly udpCeilingShare: number;
  readonly datagramsReceivedPerSecond: number;
  /** Cores used by each service and OTHER_GROUPS, and `machine` (share of all cores busy). */
  readonly cores: Readonly<Record<string, number>>;
  /** CPU µs per 1,000 delivered updates, by service and OTHER_GROUPS. */
  readonly usPer1000: Readonly<Record<string, number>>;
  /** The five services together, CPU µs per 1,000 delivered updates. */
  readonly serverUsPer1000: number;
  /** The services with NATS and Redis (which Colyseus does not need). */
  readonly serverAndBrokersUsPer1000: number;
  /** Every process of the Overworld side: the services, the bots process, NATS, Redis and Postgres. */
  readonly machineUsPer1000: number;
  readonly ok: boolean;
  readonly failedToConnect: number;
  readonly ejections: number;
  /** The codes the ejections were made with, e.g. "345". */
  readonly ejectionCodes: readonly string[];
  readonly disconnects: number;
  readonly problems: readonly string[];
}

export const CPU_GROUPS: readonly string[] = [...SERVICE_ORDER, ...OTHER_GROUPS];
/** The processes of the Overworld side: all CPU groups but the rest of the machine. */
const OVERWORLD_SIDE_GROUPS: readonly string[] = CPU_GROUPS.filter((group) => group !== "others");

export function figuresOf(run: BotRunResult): RunFigures {
  const { report, agent, cores } = run;
  const delivered = report.updates.deliveredPerSecond;
  const per = (value: number) => (delivered > 0 ? value / delivered : 0);
  const usPer1000: Record<string, number> = {};
  for (const group of CPU_GROUPS) {
    usPer1000[group] = cpuUsPer1000(cores[group] ?? 0, delivered);
  }
  const serverUsPer1000 = SERVICE_ORDER.reduce((sum, service) => sum + usPer1000[service]!, 0);
  const machineUsPer1000 = OVERWORLD_SIDE_GROUPS.reduce((sum, group) => sum + usPer1000[group]!, 0);
  const tally = (record: Readonly<Record<string, { count: number }>>) =>
    Object.values(record).reduce((sum, entry) => sum + entry.count, 0);
  return {
    count: report.options.count,
    stepsSent: report.updates.sent,
    stepsPlanned: report.options.count * report.options.rate * report.measuredSeconds,
    sentPerSecond: report.updates.sentPerSecond,
    deliveredPerSecond: delivered,
    fanOut: report.updates.fanOut,
    p50Ms: report.latencyMs.p50,
    p99Ms: report.latencyMs.p99,
    localP50Ms: report.localLatencyMs.p50,
    localP99Ms: report.localLatencyMs.p99,
    latencySamples: report.latencyMs.samples,
    bytesPerUpdate: per(agent.bytesSent),
    wireBytesPerUpdate: per(agent.bytesSent + agent.datagramsSent * IP_UDP_HEADER_BYTES),
    reliableBytesPerUpdate:
      report.updates.deliveredTotal > 0 ? report.transport.bytesReceived / report.updates.deliveredTotal : 0,
    datagramsSentPerSecond: agent.datagramsSent,
    updatesPerDatagram: agent.datagramsSent > 0 ? delivered / agent.datagramsSent : 0,
    agentUsPerDatagram:
      agent.datagramsSent > 0
        ? ((cores["client-agent"] ?? 0) * MICROSECONDS_PER_SECOND) / agent.datagramsSent
        : 0,
    udpCeilingShare: agent.datagramsSent / LOOPBACK_UDP_CEILING,
    datagramsReceivedPerSecond: agent.datagramsReceived,
    cores,
    usPer1000,
    serverUsPer1000,
    serverAndBrokersUsPer1000: serverUsPer1000 + usPer1000.nats! + usPer1000.redis!,
    machineUsPer1000,
    ok: report.ok,
    failedToConnect: report.bots.failed,
    ejections: tally(report.ejections),
    ejectionCodes: Object.keys(report.ejections),
    disconnects: tally(report.disconnects),
    problems: report.problems,
  };
}

export function median(values: readonly number[]): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  return sorted.length % 2 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

/** Each figure's median over the runs (figure by figure); ok only if every run was ok; problems of all. */
export function medianOf(runs: readonly RunFigures[]): RunFigures {
  const of = (pick: (run: RunFigures) => number) => median(runs.map(pick));
  const record = (pick: (run: RunFigures) => Readonly<Record<string, number>>) =>
    Object.fromEntries(Object.keys(pick(runs[0]!)).map((key) => [key, of((run) => pick(run)[key] ?? 0)]));
  return {
    count: runs[0]!.count,
    stepsSent: of((r) => r.stepsSent),
    stepsPlanned: of((r) => r.stepsPlanned),
    sentPerSecond: of((r) => r.sentPerSecond),
    deliveredPerSecond: of((r) => r.deliveredPerSecond),
    fanOut: of((r) => r.fanOut),
    p50Ms: of((r) => r.p50Ms),
    p99Ms: of((r) => r.p99Ms),
    localP50Ms: of((r) => r.localP50Ms),
    localP99Ms: of((r) => r.localP99Ms),
    latencySamples: of((r) => r.latencySamples),
    bytesPerUpdate: of((r) => r.bytesPerUpdate),
    wireBytesPerUpdate: of((r) => r.wireBytesPerUpdate),
    reliableBytesPerUpdate: of((r) => r.reliableBytesPerUpdate),
    datagramsSentPerSecond: of((r) => r.datagramsSentPerSecond),
    updatesPerDatagram: of((r) => r.updatesPerDatagram),
    agentUsPerDatagram: of((r) => r.agentUsPerDatagram),
    udpCeilingShare: of((r) => r.udpCeilingShare),
    datagramsReceivedPerSecond: of((r) => r.datagramsReceivedPerSecond),
    cores: record((r) => r.cores),
    usPer1000: record((r) => r.usPer1000),
    serverUsPer1000: of((r) => r.serverUsPer1000),
    serverAndBrokersUsPer1000: of((r) => r.serverAndBrokersUsPer1000),
    machineUsPer1000: of((r) => r.machineUsPer1000),
    ok: runs.every((r) => r.ok),
    failedToConnect: Math.max(...runs.map((r) => r.failedToConnect)),
    ejections: Math.max(...runs.map((r) => r.ejections)),
    ejectionCodes: [...new Set(runs.flatMap((r) => r.ejectionCodes))],
    disconnects: Math.max(...runs.map((r) => r.disconnects)),
    problems: [...new Set(runs.flatMap((r) => r.problems))],
  };
}

// ---- printing ---------------------------------------------------------------------------------------

export function rate(perSecond: number): string {
  if (perSecond >= 1e6) return `${(perSecond / 1e6).toFixed(2)}M`;
  if (perSecond >= 1e4) return `${(perSecond / 1e3).toFixed(0)}k`;
  if (perSecond >= 1e3) return `${(perSecond / 1e3).toFixed(1)}k`;
  return perSecond.toFixed(0);
}

export function ms(value: number): string {
  return value >= 100 ? value.toFixed(0) : value >= 10 ? value.toFixed(1) : value.toFixed(2);
}

export function fixed(value: number, digits: number): string {
  return value.toFixed(digits);
}

export function percent(share: number): string {
  const value = share * 100;
  return value >= 10 ? `${value.toFixed(0)}%` : `${value.toFixed(1)}%`;
}

/** A µs figure: whole µs from 10 up, one decimal below. */
export function micros(value: number): string {
  return value >= 10 ? value.toFixed(0) : value.toFixed(1);
}

/** A figure's median with the runs' values in brackets (when there are several). */
export function withRuns<Run>(
  runs: readonly Run[],
  pick: (run: Run) => number,
  show: (value: number) => string,
): string {
  const middle = show(median(runs.map(pick)));
  return runs.length > 1 ? `${middle} (${runs.map((run) => show(pick(run))).join(", ")})` : middle;
}

/** What went wrong in the runs, counted per run: `failed to connect 24/6/69; ejected (345) 254/304/187`. */
export function problemsCell(runs: readonly RunFigures[]): string {
  const parts: string[] = [];
  const counts = (pick: (run: RunFigures) => number) => runs.map(pick).join("/");
  if (runs.some((r) => r.failedToConnect > 0))
    parts.push(`failed to connect ${counts((r) => r.failedToConnect)}`);
  if (runs.some((r) => r.ejections > 0)) {
    const codes = [...new Set(runs.flatMap((r) => r.ejectionCodes))].join(", ");
    parts.push(`ejected (${codes}) ${counts((r) => r.ejections)}`);
  }
  if (runs.some((r) => r.disconnects > 0)) parts.push(`disconnected ${counts((r) => r.disconnects)}`);
  return parts.length === 0 ? "none" : parts.join("; ");
}

export function table(header: readonly string[], rows: readonly (readonly string[])[]): void {
  const widths = header.map((title, i) => Math.max(title.length, ...rows.map((row) => row[i]!.length)));
  const line = (cells: readonly string[]) => cells.map((cell, i) => cell.padEnd(widths[i]!)).join("  ");
  console.log(line(header));
  console.log(widths.map((width) => "-".repeat(width)).join("  "));
  for (const row of rows) console.log(line(row));
  console.log();
}

/** Cores by process group of a run, e.g. `client-agent 0.92 · state-server 0.31 ...`. */
export function coresLine(figures: RunFigures): string {
  return CPU_GROUPS.map((group) => `${group} ${fixed(figures.cores[group] ?? 0, 2)}`).join(" · ");
}

/** Prints the usage and exits when --help or -h is given (unknown options are otherwise ignored). */
export function answerHelp(usage: string): void {
  if (!process.argv.includes("--help") && !process.argv.includes("-h")) return;
  process.stdout.write(usage);
  process.exit(0);
}

/** Option parsing shared by the player benchmarks. */
export function argValue(flag: string): string | undefined {
  const at = process.argv.indexOf(flag);
  return at >= 0 ? process.argv[at + 1] : undefined;
}

export function numberArg(flag: string, fallback: number): number {
  const text = argValue(flag);
  if (text === undefined) return fallback;
  const value = Number(text);
  if (!Number.isFinite(value) || value <= 0) throw new Error(`${flag} takes a number above 0, not '${text}'`);
  return value;
}

/** A whole number of 1 or more. */
export function integerArg(flag: string, fallback: number): number {
  const value = numberArg(flag, fallback);
  if (!Number.isInteger(value)) throw new Error(`${flag} takes a whole number, not '${value}'`);
  return value;
}

/** A path, taken relative to where the user typed the command (`pnpm` runs scripts from the root). */
export function pathArg(flag: string): string | undefined {
  const path = argValue(flag);
  return path === undefined ? undefined : resolve(process.env.INIT_CWD ?? process.cwd(), path);
}

/** `--cpu-prof DIR`: every service and bots process writes a CPU profile into DIR when it exits. */
export function profileArgs(): string[] | undefined {
  const dir = pathArg("--cpu-prof");
  return dir === undefined ? undefined : ["--cpu-prof", `--cpu-prof-dir=${dir}`];
}

export function countsArg(fallback: readonly number[]): number[] {
  const text = argValue("--counts");
  if (text === undefined) return [...fallback];
  const counts = text.split(",").map((part) => Number(part.trim()));
  if (counts.some((count) => !Number.isInteger(count) || count < 2)) {
    throw new Error(
      `--counts takes whole numbers of 2 or more, comma-separated (e.g. 50,200,500), not '${text}'`,
    );
  }
  return counts;
}
