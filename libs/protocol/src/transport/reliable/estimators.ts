/**
 * Link estimates: smoothed round-trip time, packet loss, and byte rates.
 */

/** Weight of a new RTT sample in the smoothed RTT (as TCP does, RFC 6298). */
const RTT_GAIN = 1 / 8;
/** Weight of a new sample's deviation in the RTT variation. */
const RTT_VARIATION_GAIN = 1 / 4;

/** Smoothed round-trip time and its mean deviation, in milliseconds. */
export class RttEstimator {
  private smoothedMs = 0;
  private variationMs = 0;
  private samples = 0;

  get hasSample(): boolean {
    return this.samples > 0;
  }

  /** The smoothed RTT; 0 before the first sample. */
  get smoothed(): number {
    return this.smoothedMs;
  }

  /** The mean deviation of the samples from the smoothed RTT. */
  get variation(): number {
    return this.variationMs;
  }

  addSample(rttMs: number): void {
    const sample = Math.max(0, rttMs);
    if (this.samples === 0) {
      this.smoothedMs = sample;
      this.variationMs = sample / 2;
    } else {
      const deviation = Math.abs(sample - this.smoothedMs);
      this.variationMs += (deviation - this.variationMs) * RTT_VARIATION_GAIN;
      this.smoothedMs += (sample - this.smoothedMs) * RTT_GAIN;
    }
    this.samples += 1;
  }
}

/** The share of the last `window` decided packets that were lost. */
export class LossEstimator {
  private readonly outcomes: Uint8Array;
  private next = 0;
  private filled = 0;
  private lostInWindow = 0;

  constructor(readonly window: number) {
    this.outcomes = new Uint8Array(window);
  }

  /** 0 … 1; 0 before anything was decided. */
  get ratio(): number {
    return this.filled === 0 ? 0 : this.lostInWindow / this.filled;
  }

  record(lost: boolean): void {
    const outcome = lost ? 1 : 0;
    if (this.filled === this.window) this.lostInWindow -= this.outcomes[this.next]!;
    else this.filled += 1;
    this.outcomes[this.next] = outcome;
    this.lostInWindow += outcome;
    this.next = (this.next + 1) % this.window;
  }
}

const MS_PER_SECOND = 1000;

/**
 * Bytes per second, measured over consecutive windows: the rate reported is that of the last
 * complete window, so it trails the traffic by at most one window.
 */
export class RateMeter {
  private windowStart: number | undefined;
  private bytesInWindow = 0;
  private lastRate = 0;

  constructor(readonly windowMs: number) {}

  record(bytes: number, now: number): void {
    this.roll(now);
    this.bytesInWindow += bytes;
  }

  bytesPerSecond(now: number): number {
    this.roll(now);
    return this.lastRate;
  }

  private roll(now: number): void {
    if (this.windowStart === undefined) {
      this.windowStart = now;
      return;
    }
    const elapsed = now - this.windowStart;
    if (elapsed < this.windowMs) return;
    this.lastRate = (this.bytesInWindow * MS_PER_SECOND) / elapsed;
    this.bytesInWindow = 0;
    this.windowStart = now;
  }
}
