/**
 * Token buckets per key (a client address, a username): each key may spend `burst` attempts at once, and
 * gets back `perMinute` of them a minute. Kept in memory, per uberdog process: with N replicas behind a
 * load balancer a client gets up to N times the rate, which still bounds guessing.
 */
import { netcode } from "@overworld/protocol";

export interface BucketRule {
  /** Attempts a key may make at once. */
  readonly burst: number;
  /** Attempts given back per minute. */
  readonly perMinute: number;
}

export type TakeResult =
  | { readonly allowed: true }
  | { readonly allowed: false; readonly retryAfterMs: number };

interface Bucket {
  tokens: number;
  /** When `tokens` was last brought up to date (ms). */
  at: number;
}

const MS_PER_MINUTE = 60_000;
const DEFAULT_MAX_KEYS = 100_000;
/** When over its key budget, the limiter forgets keys until it is back under this share of it. */
const PRUNE_TO = 0.9;

export class RateLimiter {
  private readonly buckets = new Map<string, Bucket>();
  private readonly perMs: number;

  constructor(
    readonly rule: BucketRule,
    private readonly now: () => number = Date.now,
    private readonly maxKeys = DEFAULT_MAX_KEYS,
  ) {
    if (!(rule.burst >= 1) || !(rule.perMinute > 0)) {
      throw new RangeError(`a rate limit needs burst >= 1 and perMinute > 0, got ${JSON.stringify(rule)}`);
    }
    this.perMs = rule.perMinute / MS_PER_MINUTE;
  }

  /** How many keys are tracked. */
  get size(): number {
    return this.buckets.size;
  }

  /** Spends one attempt of `key`, or says how long until it has one. */
  take(key: string): TakeResult {
    const bucket = this.current(key);
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      return { allowed: true };
    }
    return { allowed: false, retryAfterMs: Math.ceil((1 - bucket.tokens) / this.perMs) };
  }

  /** Gives back an attempt taken by `take` (e.g. a login that succeeded). */
  refund(key: string): void {
    const bucket = this.buckets.get(key);
    if (bucket) bucket.tokens = Math.min(this.rule.burst, bucket.tokens + 1);
  }

  /** The key's bucket refilled up to now, moved to the back of the map (the most recently used). */
  private current(key: string): Bucket {
    const now = this.now();
    const bucket = this.buckets.get(key);
    if (bucket) {
      this.buckets.delete(key);
      bucket.tokens = this.refilled(bucket, now);
      bucket.at = now;
      this.buckets.set(key, bucket);
      return bucket;
    }
    if (this.buckets.size >= this.maxKeys) this.prune(now);
    const fresh = { tokens: this.rule.burst, at: now };
    this.buckets.set(key, fresh);
    return fresh;
  }

  private refilled(bucket: Bucket, now: number): number {
    return Math.min(this.rule.burst, bucket.tokens + Math.max(0, now - bucket.at) * this.perMs);
  }

  /** Forgets full buckets (they hold nothing a fresh one would not), then the least recently used ones. */
  private prune(now: number): void {
    for (const [key, bucket] of this.buckets) {
      if (this.refilled(bucket, now) >= this.rule.burst) this.buckets.delete(key);
    }
    const target = Math.floor(this.maxKeys * PRUNE_TO);
    for (const key of this.buckets.keys()) {
      if (this.buckets.size <= target) break;
      this.buckets.delete(key);
    }
  }
}

/** Bytes of an IPv6 address that name its /64 network: one subscriber usually holds a whole /64. */
const IPV6_NETWORK_BYTES = 8;
const IPV4_MAPPED_PREFIX = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff];

/**
 * The key a client address is limited under: an IPv4 address itself (IPv4-mapped IPv6 included), an
 * IPv6 address's /64 network (a client can pick any address in its /64, so each must not get its own
 * bucket). Anything unparsable is its own key.
 */
export function addressKey(ip: string): string {
  if (!ip.includes(":")) return ip;
  let host: Uint8Array;
  try {
    host = netcode.parseAddress(`[${ip}]:1`).host;
  } catch {
    return ip;
  }
  if (IPV4_MAPPED_PREFIX.every((byte, i) => host[i] === byte)) return host.subarray(12).join(".");
  return `${Buffer.from(host.subarray(0, IPV6_NETWORK_BYTES)).toString("hex")}/64`;
}
