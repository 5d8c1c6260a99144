/**
 * End-to-end latency of a walk step: the sender stamps `setSmXYH` with its cluster time in whole ms
 * modulo 2^32 (the field is a uint32); the receiver subtracts that from its own cluster time. Both clocks
 * are the cluster clock as each client estimates it, so a sample is off by at most the two clients'
 * error bounds (a fraction of a millisecond on loopback). Samples are counted in 100 µs bins as they
 * come (one array increment: a run records hundreds of thousands a second, and recording each in an HDR
 * histogram took a third of the bots' CPU), and the bins go into HDR histograms in microseconds when a
 * progress line or the report reads them; the stamp's whole-ms rounding makes a single sample good to
 * ±0.5 ms anyway.
 */
import { build, type Histogram } from "hdr-histogram-js";

const U32_LIMIT = 0x1_0000_0000;
const HALF_U32 = 0x8000_0000;
export const MICROSECONDS_PER_MS = 1000;
/** 60 s: longer delays are not latency but a stalled run; the histogram grows if one comes anyway. */
const HIGHEST_TRACKED_MICROSECONDS = 60_000_000;
const SIGNIFICANT_DIGITS = 3;

/** The stamp a walk step carries: cluster time in whole ms, modulo 2^32. */
export function timeStamp(clusterTimeMs: number): number {
  return Math.round(clusterTimeMs) >>> 0;
}

/**
 * How long ago (ms) a step stamped `stamp` left, seen at cluster time `nowMs`. Signed: a small negative
 * value means the two clients' clock estimates disagree by more than the trip took. Valid while the
 * true delay is under 2^31 ms (about 24 days).
 */
export function latencyMs(nowMs: number, stamp: number): number {
  const now = nowMs - Math.floor(nowMs / U32_LIMIT) * U32_LIMIT;
  const ahead = (((now - stamp) % U32_LIMIT) + U32_LIMIT) % U32_LIMIT;
  return ahead >= HALF_U32 ? ahead - U32_LIMIT : ahead;
}

/** An HDR histogram of microseconds, 3 significant digits (1 µs resolution below 1 ms, 1 ms at 1 s). */
export function latencyHistogram(): Histogram {
  return build({
    lowestDiscernibleValue: 1,
    highestTrackableValue: HIGHEST_TRACKED_MICROSECONDS,
    numberOfSignificantValueDigits: SIGNIFICANT_DIGITS,
    autoResize: true,
  });
}

/** The width of a latency bin. */
const BIN_MICROSECONDS = 100;
const BINS = HIGHEST_TRACKED_MICROSECONDS / BIN_MICROSECONDS;

/**
 * A copy of the bins that hold samples, from bin `first` on: what a bot worker sends the main thread,
 * which adds the workers' together bin by bin (`mergeBinCounts`): the same counts as if one LatencyBins
 * had recorded every sample, hence the same percentiles.
 */
export interface BinCounts {
  readonly first: number;
  readonly counts: Uint32Array;
}

/** Latency samples counted in bins of BIN_MICROSECONDS up to 60 s (longer ones count in the last bin). */
export class LatencyBins {
  private readonly bins = new Uint32Array(BINS);
  private low = BINS;
  private high = -1;

  add(microseconds: number): void {
    const bin = Math.min(BINS - 1, Math.floor(microseconds / BIN_MICROSECONDS));
    this.bins[bin]! += 1;
    if (bin < this.low) this.low = bin;
    if (bin > this.high) this.high = bin;
  }

  /** The samples as an HDR histogram of microseconds (each at its bin's middle). */
  toHistogram(): Histogram {
    return countsHistogram({ first: this.low, counts: this.bins.subarray(this.low, this.high + 1) });
  }

  /** The bins from the first to the last that holds a sample, copied. */
  counts(): BinCounts {
    if (this.high < this.low) return { first: 0, counts: new Uint32Array(0) };
    return { first: this.low, counts: this.bins.slice(this.low, this.high + 1) };
  }

  reset(): void {
    if (this.high >= this.low) this.bins.fill(0, this.low, this.high + 1);
    this.low = BINS;
    this.high = -1;
  }
}

/** Percentiles of a microsecond histogram, in ms (µs precision); zeros when it holds no sample. */
export interface LatencySummary {
  readonly samples: number;
  readonly p50: number;
  readonly p90: number;
  readonly p99: number;
  readonly p999: number;
  readonly max: number;
  readonly mean: number;
}

export function summarize(histogram: Histogram): LatencySummary {
  const samples = histogram.totalCount;
  const ms = (microseconds: number) => (samples === 0 ? 0 : microseconds / MICROSECONDS_PER_MS);
  return {
    samples,
    p50: ms(histogram.getValueAtPercentile(50)),
    p90: ms(histogram.getValueAtPercentile(90)),
    p99: ms(histogram.getValueAtPercentile(99)),
    p999: ms(histogram.getValueAtPercentile(99.9)),
    max: ms(histogram.maxValue),
    mean: Math.round(ms(histogram.mean) * MICROSECONDS_PER_MS) / MICROSECONDS_PER_MS,
  };
}

/** Several bins' counts as one, bin by bin. */
export function mergeBinCounts(all: readonly BinCounts[]): BinCounts {
  const held = all.filter((bins) => bins.counts.length > 0);
  if (held.length <= 1) return held[0] ?? { first: 0, counts: new Uint32Array(0) };
  const first = Math.min(...held.map((bins) => bins.first));
  const end = Math.max(...held.map((bins) => bins.first + bins.counts.length));
  const counts = new Uint32Array(end - first);
  for (const bins of held) {
    const offset = bins.first - first;
    for (let index = 0; index < bins.counts.length; index++) counts[offset + index]! += bins.counts[index]!;
  }
  return { first, counts };
}

/** The samples of bins' counts as an HDR histogram of microseconds (each at its bin's middle). */
export function countsHistogram({ first, counts }: BinCounts): Histogram {
  const histogram = latencyHistogram();
  for (let index = 0; index < counts.length; index++) {
    const count = counts[index]!;
    const bin = first + index;
    if (count > 0) histogram.recordValueWithCount(bin * BIN_MICROSECONDS + BIN_MICROSECONDS / 2, count);
  }
  return histogram;
}

/** The percentiles of bins' counts. */
export function summarizeCounts(counts: BinCounts): LatencySummary {
  return summarize(countsHistogram(counts));
}
