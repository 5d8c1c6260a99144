/**
 * What every bot of a run adds to: counters, latency histograms and the tallies of what went wrong. One
 * instance per run, shared by all bots in the process (they all run on one event loop, so plain fields
 * are enough).
 */
import type { Histogram } from "hdr-histogram-js";
import { LatencyBins, MICROSECONDS_PER_MS } from "./latency.ts";

/** How many different reasons to keep per ejection code or failure: enough to tell, bounded in size. */
const MAX_EXAMPLES = 3;
/** Send times kept per avatar for same-process latency: steps older than this many are not looked up. */
const SENT_STEPS_KEPT = 64;

export interface Tally {
  count: number;
  /** Up to MAX_EXAMPLES distinct messages, the first seen first. */
  readonly examples: string[];
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
  /** Same-process samples of the measured window (see `sent`). */
  private readonly measuredLocalBins = new LatencyBins();
  private measuring = false;
  /** When each recent step of each avatar was sent, on this process's clock: avatar → stamp → ms. */
  private readonly sentSteps = new Map<number, Map<number, number>>();

  /**
   * A bot sent a walk step: counted, and its send time kept so that a bot of this process receiving it
   * can time it on one clock, free of the cluster clock estimates' error.
   */
  recordSent(doId: number, stamp: number, localMs: number): void {
    this.sent++;
    let steps = this.sentSteps.get(doId);
    if (steps === undefined) this.sentSteps.set(doId, (steps = new Map()));
    steps.set(stamp, localMs);
    if (steps.size > SENT_STEPS_KEPT) steps.delete(steps.keys().next().value!);
  }

  /**
   * A bot received another avatar's walk step: `clockMs` is its latency by the cluster clock; the step's
   * same-process latency is taken too when a bot of this process sent it.
   */
  recordDelivered(doId: number, stamp: number, clockMs: number, localMs: number): void {
    this.delivered++;
    if (clockMs < 0) this.negativeLatencies++;
    const microseconds = toMicroseconds(clockMs);
    this.recent.add(microseconds);
    if (!this.measuring) return;
    this.measuredBins.add(microseconds);
    const sentAt = this.sentSteps.get(doId)?.get(stamp);
    if (sentAt !== undefined) this.measuredLocalBins.add(toMicroseconds(localMs - sentAt));
  }

  /** Starts or ends the window whose samples make the report's latency figures. */
  setMeasuring(on: boolean): void {
    this.measuring = on;
  }

  /** The measured window's samples, as an HDR histogram of microseconds. */
  get measured(): Histogram {
    return this.measuredBins.toHistogram();
  }

  /** The measured window's same-process samples, as an HDR histogram of microseconds. */
  get measuredLocal(): Histogram {
    return this.measuredLocalBins.toHistogram();
  }

  /** The samples since the last call, handed to `read` before they are cleared. */
  takeRecent<T>(read: (histogram: Histogram) => T): T {
    const result = read(this.recent.toHistogram());
    this.recent.reset();
    return result;
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
  let entry = tallies.get(key);
  if (entry === undefined) tallies.set(key, (entry = { count: 0, examples: [] }));
  entry.count++;
  if (entry.examples.length < MAX_EXAMPLES && !entry.examples.includes(example)) entry.examples.push(example);
}

function total<K>(tallies: Map<K, Tally>): number {
  let sum = 0;
  for (const entry of tallies.values()) sum += entry.count;
  return sum;
}
