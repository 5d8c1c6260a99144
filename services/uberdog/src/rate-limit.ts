/**
 * Login limits, kept in Redis so that every uberdog replica shares them:
 *
 * - per client address (IPv6 per /64, see `addressKey`): logins and registrations a minute, counted by
 *   @fastify/rate-limit with its Redis store (app.ts);
 * - per (client address, username) pair: exponential back-off on failures (`LoginBackoff`, here). The pair
 *   may fail `freeFailures` times without waiting; then each attempt waits `firstDelayMs`, doubling with
 *   every further failure, up to `maxDelayMs`. A success forgets the pair, and so does `forgetMs` without
 *   an attempt after the last wait.
 *
 * Why pairs rather than usernames: a limit per username lets anyone who knows a username lock its owner
 * out with a few wrong passwords. Per pair, an attacker's failures slow the attacker's address only; the
 * owner, from another address, logs in as ever. An attacker spread over many addresses gets each address's
 * schedule, bounded by the per-address limit of each.
 *
 * An attempt counts when it is let in, before the password is checked, in one Lua script: attempts that
 * race each other cannot all slip through an open window, and the back-off is set before any scrypt work.
 * Attempts refused with 429 do not count: hammering does not lengthen the wait.
 */
import { addressKey, LuaScript, type Redis } from "@overworld/service";

export interface BackoffRule {
  /** Failures a pair may make without waiting. */
  readonly freeFailures: number;
  /** The first wait, once the free failures are spent; it doubles with every further failure. */
  readonly firstDelayMs: number;
  /** The longest wait. */
  readonly maxDelayMs: number;
  /** A pair that makes no attempt for this long after its wait ends is forgotten. */
  readonly forgetMs: number;
}

export type TakeResult =
  | { readonly allowed: true }
  | { readonly allowed: false; readonly retryAfterMs: number };

/**
 * KEYS[1]: the pair's hash {failures, until}. ARGV: freeFailures, firstDelayMs, maxDelayMs, forgetMs.
 * Returns 0 when the attempt is let in (and counted), else the milliseconds until it may be.
 */
const ATTEMPT = new LuaScript(
  "uberdog-login-attempt",
  `
local now = now_ms()
local pair = redis.call('HMGET', KEYS[1], 'failures', 'until')
local failures = tonumber(pair[1]) or 0
local waitUntil = tonumber(pair[2]) or 0
if now < waitUntil then return waitUntil - now end
failures = failures + 1
local free, first, max = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local delay = 0
if failures >= free then delay = math.floor(math.min(max, first * 2 ^ (failures - free))) end
redis.call('HSET', KEYS[1], 'failures', failures, 'until', now + delay)
redis.call('PEXPIRE', KEYS[1], delay + tonumber(ARGV[4]))
return 0
`,
);

export class LoginBackoff {
  constructor(
    private readonly redis: Redis,
    /** Prefix of the pairs' keys, e.g. `ow:uberdog:pair:`. */
    private readonly prefix: string,
    readonly rule: BackoffRule,
  ) {
    if (!(rule.freeFailures >= 1) || !(rule.firstDelayMs >= 1) || !(rule.maxDelayMs >= rule.firstDelayMs)) {
      throw new RangeError(
        `a login back-off needs freeFailures >= 1, firstDelayMs >= 1 and maxDelayMs >= firstDelayMs, got ${JSON.stringify(rule)}`,
      );
    }
  }

  /** Lets an attempt of `username` from `ip` in (and counts it as a failure until it succeeds), or says how long to wait. */
  async attempt(ip: string, username: string): Promise<TakeResult> {
    const { freeFailures, firstDelayMs, maxDelayMs, forgetMs } = this.rule;
    const waitMs = Number(
      await ATTEMPT.run(
        this.redis,
        [this.key(ip, username)],
        [freeFailures, firstDelayMs, maxDelayMs, forgetMs],
      ),
    );
    return waitMs > 0 ? { allowed: false, retryAfterMs: waitMs } : { allowed: true };
  }

  /** The attempt succeeded: the pair starts afresh. */
  async succeeded(ip: string, username: string): Promise<void> {
    await this.redis.del(this.key(ip, username));
  }

  /** Usernames are unique whatever their case, so their case does not make another pair. */
  private key(ip: string, username: string): string {
    return `${this.prefix}${addressKey(ip)}:${username.toLowerCase()}`;
  }
}
