/**
 * The end-of-run report: a JSON-ready object (for benchmarks and `--json`) and its readable summary.
 */
import type { Grid } from "../../../examples/demo/grid.ts";
import { type LatencySummary, summarizeCounts } from "./latency.ts";
import type { Progress, ResolvedOptions } from "./options.ts";
import type { ShareFinal, ShareWindow } from "./share-figures.ts";
import { type Tally, total } from "./stats.ts";
import type { TransportSum } from "./transport.ts";

export interface BotReport {
  readonly options: {
    readonly count: number;
    readonly rate: number;
    readonly durationSeconds: number;
    readonly warmupSeconds: number;
    readonly ramp: number;
    readonly uberdog: string;
    readonly version: string;
    readonly dcFiles: readonly string[];
    readonly grid: Grid;
    readonly prefix: string;
    readonly speed: number;
    readonly updateHz: number;
    /** Worker threads the bots ran in (1: the caller's thread, no worker). */
    readonly workers: number;
  };
  readonly startedAt: string;
  /** The run was ended early by its AbortSignal. */
  readonly aborted: boolean;
  readonly bots: {
    readonly requested: number;
    /** Bots whose hello the client agent answered. */
    readonly connected: number;
    /** Bots that got their avatar and interest and walked. */
    readonly walked: number;
    /** Bots that never walked (connect failures): see `failures`. */
    readonly failed: number;
    /** Bots still connected when the run ended. */
    readonly connectedAtEnd: number;
  };
  readonly failures: Readonly<Record<string, Tally>>;
  /** Seconds from the first bot's start until the measured window began (the ramp plus warm-up). */
  readonly warmupSeconds: number;
  /** The measured window, in seconds (shorter than asked when aborted). */
  readonly measuredSeconds: number;
  /** Walk steps in the measured window: sent by the bots, and received by them from other bots. */
  readonly updates: {
    readonly sent: number;
    readonly delivered: number;
    readonly sentPerSecond: number;
    readonly deliveredPerSecond: number;
    /** Deliveries per update sent: how many bots see each step, on average. */
    readonly fanOut: number;
    /** Over the whole run, warm-up included. */
    readonly sentTotal: number;
    readonly deliveredTotal: number;
  };
  /**
   * End-to-end latency in ms, measured window only: the receiver's cluster time minus the stamp the
   * sender put in the step (its cluster time). Each side's estimate of the cluster clock is good to its
   * error bound (`clockErrorBoundMs`), so samples may be off by the two bounds.
   */
  readonly latencyMs: LatencySummary & {
    /** Samples where the receiver's clock read earlier than the stamp (recorded as 0). */
    readonly negative: number;
  };
  /**
   * The same steps timed on this process's own clock (sender and receiver are both bots of this run, in
   * the same thread or not: every thread reads the process's monotonic clock, see clock.ts): exact, free of
   * clock estimates. It differs from `latencyMs` by the clock estimates' error.
   */
  readonly localLatencyMs: LatencySummary;
  /** Ejections of connected bots, by code. */
  readonly ejections: Readonly<Record<string, Tally>>;
  /** Connections that ended unasked (not by the run, not by an ejection), by reason. */
  readonly disconnects: Readonly<Record<string, Tally>>;
  readonly interestChanges: number;
  /** The bots' connections, summed (bot to agent direction unless said; see TransportSum). */
  readonly transport: Readonly<TransportSum> & {
    /** unacknowledged / packetsSent. */
    readonly lossUpperBound: number;
  };
  /** The bots' cluster clock error bounds at the end (ms): how far latency samples may be off. */
  readonly clockErrorBoundMs: { readonly p50: number; readonly max: number };
  /**
   * This process over the measured window, all its threads (in-process runs include whatever else runs in
   * it); the event-loop delay is that of the thread the bots ran in, the worst worker's with workers.
   */
  readonly process: {
    readonly cpuSeconds: number;
    /** Percent of one core (above 100 with workers on several cores). */
    readonly cpuPercent: number;
    readonly eventLoopDelayP99Ms: number;
    readonly eventLoopDelayMaxMs: number;
  };
  /** True when every bot walked and none was ejected or lost its connection. */
  readonly ok: boolean;
  /** What made `ok` false, in words. */
  readonly problems: readonly string[];
}

/** The measured window: the bots' figures (all shares merged), its length and this process's CPU in it. */
export interface MeasuredWindow {
  readonly seconds: number;
  /** This process's CPU (all threads) over the window. */
  readonly cpuSeconds: number;
  readonly figures: ShareWindow;
}

/** What a run hands over to be reported. */
export interface RunOutcome {
  readonly options: ResolvedOptions;
  readonly startedAt: Date;
  readonly aborted: boolean;
  /** Seconds from the start to the measured window. */
  readonly warmupSeconds: number;
  readonly measured: MeasuredWindow;
  /** The bots at the end (all shares merged). */
  readonly final: ShareFinal;
}

const PERCENT = 100;

export function buildReport(outcome: RunOutcome): BotReport {
  const { options, measured } = outcome;
  const { totals, transport, clockErrorBounds } = outcome.final;
  const window = measured.figures;
  const failed = total(totals.failures);
  const ejected = total(totals.ejections);
  const disconnected = total(totals.disconnects);
  const problems = [
    ...(failed > 0 ? [`${failed} of ${options.count} bots failed to connect`] : []),
    ...(ejected > 0 ? [`${ejected} bots were ejected`] : []),
    ...(disconnected > 0 ? [`${disconnected} bots lost their connection`] : []),
  ];
  return {
    options: {
      count: options.count,
      rate: options.rate,
      durationSeconds: options.durationSeconds,
      warmupSeconds: options.warmupSeconds,
      ramp: options.ramp,
      uberdog: options.uberdog,
      version: options.version,
      dcFiles: options.dcFiles,
      grid: options.grid,
      prefix: options.prefix,
      speed: options.speed,
      updateHz: options.updateHz,
      workers: options.workers,
    },
    startedAt: outcome.startedAt.toISOString(),
    aborted: outcome.aborted,
    bots: {
      requested: options.count,
      connected: totals.everConnected,
      walked: totals.everWalked,
      failed,
      connectedAtEnd: outcome.final.connectedAtEnd,
    },
    failures: Object.fromEntries(totals.failures),
    warmupSeconds: outcome.warmupSeconds,
    measuredSeconds: measured.seconds,
    updates: {
      sent: window.sent,
      delivered: window.delivered,
      sentPerSecond: perSecond(window.sent, measured.seconds),
      deliveredPerSecond: perSecond(window.delivered, measured.seconds),
      fanOut: window.sent === 0 ? 0 : window.delivered / window.sent,
      sentTotal: totals.sent,
      deliveredTotal: totals.delivered,
    },
    latencyMs: { ...summarizeCounts(window.latency), negative: window.negative },
    localLatencyMs: summarizeCounts(window.localLatency),
    ejections: Object.fromEntries([...totals.ejections].map(([code, tally]) => [String(code), tally])),
    disconnects: Object.fromEntries(totals.disconnects),
    interestChanges: totals.interestChanges,
    transport: {
      ...transport,
      lossUpperBound: transport.packetsSent === 0 ? 0 : transport.unacknowledged / transport.packetsSent,
    },
    clockErrorBoundMs: {
      p50: median(clockErrorBounds),
      max: clockErrorBounds.length === 0 ? 0 : Math.max(...clockErrorBounds),
    },
    process: {
      cpuSeconds: measured.cpuSeconds,
      cpuPercent: measured.seconds === 0 ? 0 : (measured.cpuSeconds / measured.seconds) * PERCENT,
      eventLoopDelayP99Ms: window.eventLoopDelayP99Ms,
      eventLoopDelayMaxMs: window.eventLoopDelayMaxMs,
    },
    ok: problems.length === 0,
    problems,
  };
}

const BYTES_PER_KIB = 1024;

/** The report for people: one fact per line, problems last. */
export function formatSummary(report: BotReport): string {
  const { bots, updates, latencyMs: latency, transport } = report;
  const lines = [
    `bots          ${bots.requested} requested, ${bots.connected} connected, ${bots.walked} walked, ${bots.failed} failed to connect`,
    `measured      ${fixed(report.measuredSeconds, 1)} s after ${fixed(report.warmupSeconds, 1)} s of ramp and warm-up${report.aborted ? " (aborted)" : ""}`,
    `sent          ${updates.sent} updates (${fixed(updates.sentPerSecond, 1)}/s)`,
    `delivered     ${updates.delivered} updates (${fixed(updates.deliveredPerSecond, 1)}/s, fan-out ${fixed(updates.fanOut, 2)})`,
    latency.samples === 0
      ? "latency       no samples (no bot saw another walk)"
      : `latency ms    ${percentiles(latency)}  (cluster clocks; ${latency.samples} samples, ` +
        `clock error bound p50 ${fixed(report.clockErrorBoundMs.p50, 2)} ms)`,
    ...(report.localLatencyMs.samples === 0
      ? []
      : [`  one clock   ${percentiles(report.localLatencyMs)}  (this process's clock, exact)`]),
    `ejections     ${tallies(report.ejections)}`,
    `disconnects   ${tallies(report.disconnects)}`,
    `transport     ${transport.packetsSent} packets sent, ${transport.unacknowledged} unacknowledged ` +
      `(loss <= ${percent(transport.lossUpperBound)}), ${transport.partsResent} parts resent, ` +
      `${fixed(transport.bytesSent / BYTES_PER_KIB, 0)} KiB sent, ${fixed(transport.bytesReceived / BYTES_PER_KIB, 0)} KiB received`,
    `this process  ${fixed(report.process.cpuSeconds, 2)} CPU s (${fixed(report.process.cpuPercent, 1)}% of a core), ` +
      `event loop delay p99 ${fixed(report.process.eventLoopDelayP99Ms, 1)} ms` +
      (report.options.workers > 1 ? ` (worst of ${report.options.workers} worker threads)` : ""),
  ];
  if (Object.keys(report.failures).length > 0) lines.push(`failures      ${tallies(report.failures)}`);
  lines.push(report.ok ? "result        ok" : `result        FAILED: ${report.problems.join("; ")}`);
  return `${lines.join("\n")}\n`;
}

/** One progress line: `[  12 s] measure  connected 50/50 ...`. */
export function formatProgress(progress: Progress): string {
  const latency =
    progress.latencySamples === 0
      ? "latency -"
      : `latency p50 ${fixed(progress.latencyP50Ms, 1)} ms p99 ${fixed(progress.latencyP99Ms, 1)} ms`;
  return (
    `[${String(Math.round(progress.elapsedSeconds)).padStart(4)} s] ${progress.phase.padEnd(7)} ` +
    `connected ${progress.connected}/${progress.bots}  walking ${progress.walking}  failed ${progress.failed}  ` +
    `sent ${Math.round(progress.sentPerSecond)}/s  delivered ${Math.round(progress.deliveredPerSecond)}/s  ` +
    `${latency}  ejected ${progress.ejections}  disconnected ${progress.disconnects}`
  );
}

function percentiles(latency: LatencySummary): string {
  return (
    `p50 ${fixed(latency.p50, 2)}  p90 ${fixed(latency.p90, 2)}  p99 ${fixed(latency.p99, 2)}  ` +
    `p99.9 ${fixed(latency.p999, 2)}  max ${fixed(latency.max, 2)}`
  );
}

export function perSecond(count: number, seconds: number): number {
  return seconds <= 0 ? 0 : count / seconds;
}

function median(values: readonly number[]): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  return sorted.length % 2 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

function tallies(record: Readonly<Record<string, Tally>>): string {
  const entries = Object.entries(record);
  if (entries.length === 0) return "none";
  return entries.map(([key, tally]) => `${key}: ${tally.count} (${tally.examples.join(" | ")})`).join("; ");
}

function fixed(value: number, digits: number): string {
  return value.toFixed(digits);
}

function percent(ratio: number): string {
  return `${(ratio * 100).toFixed(2)}%`;
}
