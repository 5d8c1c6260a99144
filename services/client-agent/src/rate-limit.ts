/**
 * A token bucket per source address (not per port: see `addressKey`, IPv6 by its /64), checked for every
 * datagram before any cryptography: an address that sends faster than its budget has its datagrams dropped
 * silently. Every port of an address shares the one bucket, so 200 source ports get no more than one.
 *
 * Everyone behind one NAT shares an address, so the budget grows with the sessions the address holds at
 * this agent: an address gets its own burst and rate (enough to connect: a handshake is a few datagrams,
 * resent ten times a second) plus a share per connected session (a player's datagrams). Sessions need a
 * connect token, hence a login, so an attacker cannot grow the budget by opening ports.
 *
 * The table is bounded; when full, the address seen longest ago is forgotten (it starts again with a full
 * bucket, which is harmless).
 */

/** A token bucket's size and refill. */
export interface DatagramBudget {
  /** Datagrams that may arrive at once. */
  readonly burst: number;
  /** Datagrams given back per second. */
  readonly perSecond: number;
}

interface Bucket {
  tokens: number;
  updatedAt: number;
}

const MS_PER_SECOND = 1000;

export class AddressRateLimiter {
  private readonly buckets = new Map<string, Bucket>();
  dropped = 0;

  constructor(
    /** What an address gets with no session. */
    private readonly own: DatagramBudget,
    /** What each connected session of the address adds. */
    private readonly perSession: DatagramBudget,
    private readonly maxAddresses = 65_536,
  ) {
    if (!(own.burst >= 1) || !(own.perSecond > 0) || !(maxAddresses >= 1)) {
      throw new RangeError(`rate limit needs burst >= 1, perSecond > 0, maxAddresses >= 1`);
    }
    if (!(perSession.burst >= 0) || !(perSession.perSecond >= 0)) {
      throw new RangeError(`a session's share of the rate limit cannot be negative`);
    }
  }

  /** Takes one token for `address` (an addressKey), which holds `sessions` here; false: drop the datagram. */
  allow(address: string, now: number, sessions = 0): boolean {
    const burst = this.own.burst + sessions * this.perSession.burst;
    let bucket = this.buckets.get(address);
    if (bucket === undefined) {
      this.evictIfFull();
      bucket = { tokens: burst, updatedAt: now };
    } else {
      this.buckets.delete(address); // re-inserted below: the Map's order is least recently seen first
      const perSecond = this.own.perSecond + sessions * this.perSession.perSecond;
      const refill = ((now - bucket.updatedAt) * perSecond) / MS_PER_SECOND;
      bucket.tokens = Math.min(burst, bucket.tokens + Math.max(0, refill));
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
