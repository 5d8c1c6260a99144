/**
 * What a game shows of a download: bytes done of the total, how many peers it gets chunks from, the rate
 * over the last `windowMs`, and where the bytes came from (peers, the server) or went to waste (corrupt or
 * duplicate chunks).
 */
export interface Progress {
  readonly bytesDone: number;
  readonly bytesTotal: number;
  readonly chunksDone: number;
  readonly chunksTotal: number;
  /** Peers it is connected to and not banned (the server not counted). */
  readonly peers: number;
  /** Bytes per second of verified chunks over the last window. */
  readonly rate: number;
  readonly fromPeers: number;
  readonly fromServer: number;
  /** Bytes received that were not used: corrupt chunks and duplicates of the endgame. */
  readonly wasted: number;
  readonly done: boolean;
}

/** Bytes per second over a sliding window of the clock's time. */
export class RateMeter {
  readonly #samples: { at: number; bytes: number }[] = [];
  #sum = 0;

  constructor(readonly windowMs = 2000) {}

  record(bytes: number, now: number): void {
    this.#samples.push({ at: now, bytes });
    this.#sum += bytes;
    this.#trim(now);
  }

  #trim(now: number): void {
    while (this.#samples.length > 0 && this.#samples[0]!.at <= now - this.windowMs) {
      this.#sum -= this.#samples.shift()!.bytes;
    }
  }

  rate(now: number): number {
    this.#trim(now);
    return (this.#sum * 1000) / this.windowMs;
  }
}
