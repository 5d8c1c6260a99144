/**
 * Swarm traffic yields to game traffic: a LEDBAT-like (RFC 6817) delay-based controller of the bytes a
 * sender may have in flight. Each acknowledgement carries the one-way delay its data saw; the least delay
 * seen over the last minutes is the path's base, anything above it is queueing, and the window grows while
 * the queueing delay is under `targetMs` and shrinks in proportion as it goes over: the swarm fills the
 * link's spare capacity and backs off as soon as a queue builds (which game packets, sharing the queue,
 * would feel). A loss halves the window, at most once per round trip. Pure logic over an injected clock.
 */
import type { Clock } from "./clock.ts";

export interface LedbatOptions {
  /** The queueing delay it aims at, ms (RFC 6817 allows up to 100; a game wants less). */
  readonly targetMs: number;
  readonly gain: number;
  /** The segment size, bytes. */
  readonly mss: number;
  readonly minWindow: number;
  readonly initialWindow: number;
  /** How many one-minute minima make the base delay. */
  readonly baseHistory: number;
  /** How many recent samples the current delay is the least of (filters noise). */
  readonly currentFilter: number;
}

export const DEFAULT_LEDBAT: LedbatOptions = {
  targetMs: 25,
  gain: 1,
  mss: 1200,
  minWindow: 2 * 1200,
  initialWindow: 4 * 1200,
  baseHistory: 10,
  currentFilter: 4,
};

const MINUTE = 60_000;

export class LedbatController {
  #window: number;
  readonly #base: { minute: number; delay: number }[] = [];
  readonly #current: number[] = [];
  #lastLossAt = Number.NEGATIVE_INFINITY;
  #rttMs = 100;

  constructor(
    private readonly clock: Clock,
    readonly options: LedbatOptions = DEFAULT_LEDBAT,
  ) {
    this.#window = options.initialWindow;
  }

  /** Bytes it may have in flight now. */
  get window(): number {
    return this.#window;
  }

  /** The base (least) one-way delay seen, ms. */
  get baseDelay(): number {
    return this.#base.reduce((least, entry) => Math.min(least, entry.delay), Number.POSITIVE_INFINITY);
  }

  /** The queueing delay it reckons now, ms. */
  get queueingDelay(): number {
    if (this.#current.length === 0) return 0;
    return Math.min(...this.#current) - this.baseDelay;
  }

  /** The rate the window allows over the last measured round trip, bytes per second. */
  get rate(): number {
    return (this.#window * 1000) / Math.max(1, this.#rttMs);
  }

  /** `bytes` were acknowledged; their one-way delay was `delayMs`, `inFlight` bytes were out before them. */
  acked(bytes: number, delayMs: number, inFlight: number, rttMs?: number): void {
    if (rttMs !== undefined) this.#rttMs = rttMs;
    const minute = Math.floor(this.clock.now() / MINUTE);
    const last = this.#base[this.#base.length - 1];
    if (last === undefined || last.minute !== minute) {
      this.#base.push({ minute, delay: delayMs });
      while (this.#base.length > this.options.baseHistory) this.#base.shift();
    } else {
      last.delay = Math.min(last.delay, delayMs);
    }
    this.#current.push(delayMs);
    while (this.#current.length > this.options.currentFilter) this.#current.shift();

    const { targetMs, gain, mss, minWindow } = this.options;
    const offTarget = (targetMs - this.queueingDelay) / targetMs;
    const next = this.#window + (gain * offTarget * bytes * mss) / this.#window;
    // never past what was in flight plus a segment (RFC 6817's max_allowed_cwnd): an idle sender banks no window
    this.#window = Math.max(minWindow, Math.min(next, inFlight + mss));
  }

  /** A segment was lost: halve the window, once per round trip. */
  lost(): void {
    const now = this.clock.now();
    if (now - this.#lastLossAt < this.#rttMs) return;
    this.#lastLossAt = now;
    this.#window = Math.max(this.options.minWindow, this.#window / 2);
  }
}
