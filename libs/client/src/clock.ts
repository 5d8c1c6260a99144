/**
 * The client's estimate of the cluster clock. Each time sample (HELLO_RESP, CLOCK) is the server's time
 * when it answered; the answer took about half the round trip to come, so the cluster time at receipt is
 * `serverTime + rtt / 2`, give or take `rtt / 2` plus the server's own error bound.
 */

export interface ClockEstimate {
  /** cluster time minus local time, in ms. */
  readonly offset: number;
  /** The true cluster time is within ± this many ms of `clusterTime()`. */
  readonly errorBound: number;
  /** The round trip of the sample the estimate came from, in ms. */
  readonly rtt: number;
}

export class ClusterClock {
  private estimate: ClockEstimate | null = null;

  get current(): ClockEstimate | null {
    return this.estimate;
  }

  /**
   * Takes a sample: the request left at `sentAt` and its answer (server time `serverTime`, with the
   * server's `serverErrorBound`) arrived at `receivedAt`, all local times but serverTime. A sample with a
   * tighter bound than the current estimate replaces it; a looser one does only when the current
   * estimate is older than `maxAgeSamples` samples, so drift is followed.
   */
  sample(sentAt: number, receivedAt: number, serverTime: number, serverErrorBound = 0): void {
    const rtt = Math.max(0, receivedAt - sentAt);
    const candidate: ClockEstimate = {
      offset: serverTime + rtt / 2 - receivedAt,
      errorBound: serverErrorBound + rtt / 2,
      rtt,
    };
    this.samplesSinceBest++;
    if (
      this.estimate === null ||
      candidate.errorBound <= this.estimate.errorBound ||
      this.samplesSinceBest >= MAX_SAMPLES_KEEPING_BEST
    ) {
      this.estimate = candidate;
      this.samplesSinceBest = 0;
    }
  }

  /** The cluster time now, from a local time; NaN before the first sample. */
  at(localNow: number): number {
    return this.estimate === null ? Number.NaN : localNow + this.estimate.offset;
  }

  private samplesSinceBest = 0;
}

/** How many samples the tightest estimate is kept against looser ones before a fresh one replaces it. */
const MAX_SAMPLES_KEEPING_BEST = 8;
