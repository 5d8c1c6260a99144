/**
 * What every bot of a thread adds to: counters, latency samples and the tallies of what went wrong. One
 * instance per thread of a run, shared by that thread's bots (they all run on one event loop, so plain
 * fields are enough); a run over worker threads merges the threads' figures (share-figures.ts) with
 * `mergeTotals` and LatencyBins' counts.
 */
import { type BinCounts, LatencyBins, MICROSECONDS_PER_MS } from "./latency.ts";
import type { SendTimes } from "./send-times.ts";

/** How many different reasons to keep per ejection code or failure: enough to tell, bounded in size. */
const MAX_EXAMPLES = 3;

export interface Tally {
  count: number;
  /** Up to MAX_EXAMPLES distinct messages, the first seen first. */
  readonly examples: string[];
}

/** A thread's counters and tallies over the whole run: plain data, to post from a worker and merge. */
export interface StatsTotals {
  readonly sent: number;
  readonly delivered: number;
  readonly everConnected: number;
  readonly everWalked: number;
  readonly interestChanges: number;
  readonly failures: ReadonlyMap<string, Tally>;
  readonly ejections: ReadonlyMap<number, Tally>;
  readonly disconnects: ReadonlyMap<string, Tally>;
}

/** Several threads' totals as one: counters summed, tallies merged keeping MAX_EXAMPLES examples each. */
export function mergeTotals(all: readonly StatsTotals[]): StatsTotals {
  const sum = (of: (totals: StatsTotals) => number) => all.reduce((total, totals) => total + of(totals), 0);
  return {
    sent: sum((totals) => totals.sent),
    delivered: sum((totals) => totals.delivered),
    everConnected: sum((totals) => totals.everConnected),
    everWalked: sum((totals) => totals.everWalked),
    interestChanges: sum((totals) => totals.interestChanges),
    failures: mergeTallies(all.map((totals) => totals.failures)),
    ejections: mergeTallies(all.map((totals) => totals.ejections)),
    disconnects: mergeTallies(all.map((totals) => totals.disconnects)),
  };
}

/** The sum of a tally map's counts. */
export function total<K>(tallies: ReadonlyMap<K, Tally>): number {
  let sum = 0;
  for (const entry of tallies.values()) sum += entry.count;
  return sum;
}

export class RunStats {
  /** setSmXYH updates sent by all bots. */
  sent = 0;
  /** setSmXYH updates of other bots' avatars received by all bots. */
  delivered = 0;
  /** Bots whose hello was answered and that have not disconnected since. */
  connected = 0;
  /** Bots that were connected at some point. */
  everConnected = 0;
  /** Bots walking now: connected, avatar owned, interest held. */
  walking = 0;
  /** Bots that walked at some point. */
  everWalked = 0;
  /** Interest changes made because a bot's avatar changed zone. */
  interestChanges = 0;
  /** Latency samples below zero (the two clients' clock estimates disagree): recorded as 0. */
  negativeLatencies = 0;
  /** Bots that never started walking, by what stopped them. */
  readonly failures = new Map<string, Tally>();
  /** Ejections of connected bots, by code. */
  readonly ejections = new Map<number, Tally>();
  /** Connections that ended without the run closing them and without an ejection, by reason. */
  readonly disconnects = new Map<string, Tally>();
  /** Samples since the last progress line (reset by `takeRecent`). */
  private readonly recent = new LatencyBins();
  /** Samples of the measured window only. */
  private readonly measuredBins = new LatencyBins();
  /** Same-process samples of the measured window (see `recordSent`). */
  private readonly measuredLocalBins = new LatencyBins();
  private measuring = false;

  /** `sendTimes`: the run's send times, shared by all its threads. */
  constructor(private readonly sendTimes: SendTimes) {}

  /**
   * Bot `bot` (its index in the run) sent a walk step: counted, and its send time (process clock) kept so
   * that any bot of the run receiving it, in this thread or another, can time it on one clock, free of the
   * cluster clock estimates' error.
   */
  recordSent(bot: number, doId: number, stamp: number, atMs: number): void {
    this.sent++;
    this.sendTimes.record(bot, doId, stamp, atMs);
  }

  /**
   * A bot received another avatar's walk step at `atMs` (process clock): `clockMs` is its latency by the
   * cluster clock; the step's same-process latency is taken too when a bot of this run sent it.
   */
  recordDelivered(doId: number, stamp: number, clockMs: number, atMs: number): void {
    this.delivered++;
    if (clockMs < 0) this.negativeLatencies++;
    const microseconds = toMicroseconds(clockMs);
    this.recent.add(microseconds);
    if (!this.measuring) return;
    this.measuredBins.add(microseconds);
    const sentAt = this.sendTimes.sentAt(doId, stamp);
    if (sentAt !== undefined) this.measuredLocalBins.add(toMicroseconds(atMs - sentAt));
  }

  /** Starts or ends the window whose samples make the report's latency figures. */
  setMeasuring(on: boolean): void {
    this.measuring = on;
  }

  /** The measured window's samples (microseconds), by the cluster clock and on the one clock. */
  measuredCounts(): { readonly latency: BinCounts; readonly localLatency: BinCounts } {
    return { latency: this.measuredBins.counts(), localLatency: this.measuredLocalBins.counts() };
  }

  /** The samples since the last call, then cleared. */
  takeRecent(): BinCounts {
    const counts = this.recent.counts();
    this.recent.reset();
    return counts;
  }

  /** The counters and tallies so far, copied. */
  totals(): StatsTotals {
    return {
      sent: this.sent,
      delivered: this.delivered,
      everConnected: this.everConnected,
      everWalked: this.everWalked,
      interestChanges: this.interestChanges,
      failures: copyTallies(this.failures),
      ejections: copyTallies(this.ejections),
      disconnects: copyTallies(this.disconnects),
    };
  }

  fail(reason: string, detail: string): void {
    tally(this.failures, reason, detail);
  }

  eject(code: number, reason: string): void {
    tally(this.ejections, code, reason);
  }

  disconnect(reason: string): void {
    tally(this.disconnects, reason, reason);
  }

  get failureCount(): number {
    return total(this.failures);
  }

  get ejectionCount(): number {
    return total(this.ejections);
  }

  get disconnectCount(): number {
    return total(this.disconnects);
  }
}

function toMicroseconds(milliseconds: number): number {
  return Math.max(0, Math.round(milliseconds * MICROSECONDS_PER_MS));
}

function tally<K>(tallies: Map<K, Tally>, key: K, example: string): void {
  const entry = entryOf(tallies, key);
  entry.count++;
  addExample(entry, example);
}

function entryOf<K>(tallies: Map<K, Tally>, key: K): Tally {
  let entry = tallies.get(key);
  if (entry === undefined) tallies.set(key, (entry = { count: 0, examples: [] }));
  return entry;
}

function addExample(entry: Tally, example: string): void {
  if (entry.examples.length < MAX_EXAMPLES && !entry.examples.includes(example)) entry.examples.push(example);
}

function mergeTallies<K>(all: readonly ReadonlyMap<K, Tally>[]): Map<K, Tally> {
  const merged = new Map<K, Tally>();
  for (const tallies of all) {
    for (const [key, { count, examples }] of tallies) {
      const entry = entryOf(merged, key);
      entry.count += count;
      for (const example of examples) addExample(entry, example);
    }
  }
  return merged;
}

function copyTallies<K>(tallies: ReadonlyMap<K, Tally>): Map<K, Tally> {
  return mergeTallies([tallies]);
}
