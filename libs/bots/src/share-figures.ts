/**
 * What a share of a run's bots (share.ts) reports at each phase, as plain data a worker thread can post,
 * and how the main thread merges the shares' figures into the run's: counters summed, latency bins added
 * bin by bin (so percentiles come out exactly as if one thread had recorded every sample), tallies merged
 * keeping their few examples, clock error bounds put together, event-loop delay the worst thread's.
 */
import { type BinCounts, mergeBinCounts } from "./latency.ts";
import { mergeTotals, type StatsTotals } from "./stats.ts";
import { mergeTransport, type TransportSum } from "./transport.ts";

/** A share's bots once the ramp is over. */
export interface ShareStarted {
  /** Bots walking (the others failed, or the run was aborted before they started). */
  readonly walking: number;
}

/** A share's live figures, once a second, for the progress line. */
export interface ShareProgress {
  readonly connected: number;
  readonly walking: number;
  readonly failed: number;
  /** Over the run so far. */
  readonly sent: number;
  readonly delivered: number;
  readonly ejections: number;
  readonly disconnects: number;
  /** Latency samples (µs, cluster clock) since the last progress. */
  readonly recent: BinCounts;
}

/** A share's measured window. */
export interface ShareWindow {
  readonly sent: number;
  readonly delivered: number;
  /** Negative latency samples (clock estimates disagreeing). */
  readonly negative: number;
  /** Latency samples (µs) by the cluster clock. */
  readonly latency: BinCounts;
  /** Latency samples (µs) on the process clock (clock.ts): steps whose sender is a bot of this run. */
  readonly localLatency: BinCounts;
  /** The share's thread's event loop over the window. */
  readonly eventLoopDelayP99Ms: number;
  readonly eventLoopDelayMaxMs: number;
}

/** A share at the end of the run. */
export interface ShareFinal {
  readonly totals: StatsTotals;
  readonly transport: TransportSum;
  /** Each bot's cluster clock error bound at the end (ms), of bots that said hello. */
  readonly clockErrorBounds: readonly number[];
  /** Bots still connected when the run ended. */
  readonly connectedAtEnd: number;
}

export function mergeStarted(all: readonly ShareStarted[]): ShareStarted {
  return { walking: sumOf(all, (started) => started.walking) };
}

export function mergeProgress(all: readonly ShareProgress[]): ShareProgress {
  return {
    connected: sumOf(all, (progress) => progress.connected),
    walking: sumOf(all, (progress) => progress.walking),
    failed: sumOf(all, (progress) => progress.failed),
    sent: sumOf(all, (progress) => progress.sent),
    delivered: sumOf(all, (progress) => progress.delivered),
    ejections: sumOf(all, (progress) => progress.ejections),
    disconnects: sumOf(all, (progress) => progress.disconnects),
    recent: mergeBinCounts(all.map((progress) => progress.recent)),
  };
}

export function mergeWindows(all: readonly ShareWindow[]): ShareWindow {
  return {
    sent: sumOf(all, (window) => window.sent),
    delivered: sumOf(all, (window) => window.delivered),
    negative: sumOf(all, (window) => window.negative),
    latency: mergeBinCounts(all.map((window) => window.latency)),
    localLatency: mergeBinCounts(all.map((window) => window.localLatency)),
    eventLoopDelayP99Ms: worst(all, (window) => window.eventLoopDelayP99Ms),
    eventLoopDelayMaxMs: worst(all, (window) => window.eventLoopDelayMaxMs),
  };
}

export function mergeFinals(all: readonly ShareFinal[]): ShareFinal {
  return {
    totals: mergeTotals(all.map((final) => final.totals)),
    transport: mergeTransport(all.map((final) => final.transport)),
    clockErrorBounds: all.flatMap((final) => final.clockErrorBounds),
    connectedAtEnd: sumOf(all, (final) => final.connectedAtEnd),
  };
}

function sumOf<T>(all: readonly T[], of: (item: T) => number): number {
  return all.reduce((sum, item) => sum + of(item), 0);
}

function worst<T>(all: readonly T[], of: (item: T) => number): number {
  return all.reduce((most, item) => Math.max(most, of(item)), 0);
}
