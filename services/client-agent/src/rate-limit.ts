/**
 * A token bucket per source address, checked for every datagram before any cryptography: an address
 * that sends faster than its rate has its datagrams dropped silently. The table is bounded; when full,
 * the address seen longest ago is forgotten (it starts again with a full bucket, which is harmless).
 */

interface Bucket {
  tokens: number;
  updatedAt: number;
}

const MS_PER_SECOND = 1000;

export class AddressRateLimiter {
  private readonly buckets = new Map<string, Bucket>();
  dropped = 0;

  constructor(
    private readonly burst: number,
    private readonly perSecond: number,
    private readonly maxAddresses = 65_536,
  ) {
    if (!(burst >= 1) || !(perSecond > 0) || !(maxAddresses >= 1)) {
      throw new RangeError(`rate limit needs burst >= 1, perSecond > 0, maxAddresses >= 1`);
    }
  }

  /** Takes one token for `address`; false when its bucket is empty (drop the datagram). */
  allow(address: string, now: number): boolean {
    let bucket = this.buckets.get(address);
    if (bucket === undefined) {
      this.evictIfFull();
      bucket = { tokens: this.burst, updatedAt: now };
    } else {
      this.buckets.delete(address); // re-inserted below: the Map's order is least recently seen first
      const refill = ((now - bucket.updatedAt) * this.perSecond) / MS_PER_SECOND;
      bucket.tokens = Math.min(this.burst, bucket.tokens + Math.max(0, refill));
      bucket.updatedAt = now;
    }
    this.buckets.set(address, bucket);
    if (bucket.tokens < 1) {
      this.dropped += 1;
      return false;
    }
    bucket.tokens -= 1;
    return true;
  }

  get size(): number {
    return this.buckets.size;
  }

  private evictIfFull(): void {
    if (this.buckets.size < this.maxAddresses) return;
    const oldest = this.buckets.keys().next();
    if (!oldest.done) this.buckets.delete(oldest.value);
  }
}
