import type { Redis } from "ioredis";

/**
 * Where new doIds come from. The state server reserves them in blocks from a counter in Redis for now;
 * the message director's allocator will stand behind this interface later.
 */
export interface IdSource {
  /** A doId never handed out before (by any replica sharing the source). */
  next(): Promise<number>;
}

export interface IdRange {
  readonly min: number;
  readonly max: number;
  /** How many ids one reservation takes: fewer round trips, more ids lost when a replica stops. */
  readonly block: number;
}

/**
 * Reserves blocks of ids with one INCRBY on a counter: each reservation is a range nobody else gets,
 * across replicas and restarts (as long as the Redis counter lives).
 */
export class RedisIdSource implements IdSource {
  private nextId = 0;
  private lastId = -1;
  private pending: Promise<void> | undefined;

  constructor(
    private readonly redis: Redis,
    private readonly counterKey: string,
    private readonly range: IdRange,
  ) {
    if (range.min > range.max) throw new Error(`doId range is empty: min ${range.min} > max ${range.max}`);
  }

  async next(): Promise<number> {
    while (this.nextId > this.lastId) {
      this.pending ??= this.reserve().finally(() => {
        this.pending = undefined;
      });
      await this.pending;
    }
    return this.nextId++;
  }

  private async reserve(): Promise<void> {
    const end = await this.redis.incrby(this.counterKey, this.range.block);
    const first = this.range.min + end - this.range.block;
    const last = Math.min(this.range.min + end - 1, this.range.max);
    if (first > this.range.max) {
      throw new Error(
        `doIds exhausted: the range ${this.range.min}-${this.range.max} is used up (counter ${this.counterKey})`,
      );
    }
    this.nextId = first;
    this.lastId = last;
  }
}
