/**
 * Exactly one running owner per zone: a lease per zone in Redis, taken and renewed by the replica that
 * runs the zone, with a fencing token. Placement (placement.ts) says which replica *should* run a zone;
 * the lease decides which one *does*, so two replicas that briefly disagree about who is live never
 * both run it.
 *
 * Keys (under the configured prefix; the zone is their hash tag, so a zone's two keys share a slot of a
 * Redis Cluster and the scripts below touch one slot):
 * - `zone-lease:{<zone>}`  hash {owner, token} with a time to live: who holds the zone, under which token
 * - `zone-token:{<zone>}`  counter, INCR'd by every acquisition: the zone's fencing tokens only grow.
 *                        It never expires and must never be deleted while the zone exists.
 *
 * Every change is one Lua script: acquire when the lease is free, expired or already ours (always with
 * a new token); renew only if it is still ours under the same token; release only if it is ours.
 *
 * When does a replica stop running a zone? The rule for a zone runner is: run the zone only while
 * `holds(zone)` is true, and check it before each tick. `holds` compares the monotonic clock with a
 * local deadline of `sent + TTL - margin`, where `sent` is read *before* the acquire or renew request
 * leaves: Redis set the expiry when the request arrived, later than `sent`, so the lease lives in Redis
 * until at least `sent + TTL`, and the local deadline falls at least `margin` before any other replica
 * can acquire the zone. The margin covers:
 * - the work a runner does after checking `holds`, without checking again (one tick's synchronous work:
 *   a 10 Hz tick budgets at most 100 ms);
 * - Redis's expiry resolution (1 ms) and the drift of our clock's rate against Redis's (parts per million
 *   of the TTL);
 * hence 250 ms by default with a TTL of 1500 ms. It does not cover a process frozen between the check and
 * a write it sends after an await (a long GC pause, SIGSTOP): writes that must not come from a former
 * owner carry the fencing token and are refused by the store when a newer one exists (see `currentToken`).
 *
 * `holds` can turn false without the lease being lost: renewals were slow (Redis unreachable) or the
 * process was frozen. The runner then pauses. The next renewal tells which it was: accepted means no
 * other replica can have held the zone meanwhile (the lease never left Redis, and only its expiry frees
 * it), so the runner resumes with the same token; refused means another replica took it (its token is
 * larger) and `onLost(zone, "refused")` fires: the runner drops the zone. A renewal that fails (Redis
 * down) after the deadline gives `onLost(zone, "expired")`.
 */
import { deleteKeys, type Logger, LuaScript, type Redis } from "@overworld/service";

/** How long a lease lives in Redis without renewal: a killed replica's zones are free after this. */
export const DEFAULT_LEASE_TTL_MS = 1500;
/** How much earlier than Redis's expiry a replica stops running a zone it did not renew (see above). */
export const DEFAULT_LEASE_MARGIN_MS = 250;
/** Renewals per TTL: a replica can miss several before its deadline. */
const RENEWALS_PER_TTL = 5;

const ACQUIRE = new LuaScript(
  "zone-lease-acquire",
  `
local owner = redis.call('HGET', KEYS[1], 'owner')
if owner and owner ~= ARGV[1] then
  return {0, owner, tonumber(redis.call('HGET', KEYS[1], 'token')), redis.call('PTTL', KEYS[1])}
end
local token = redis.call('INCR', KEYS[2])
redis.call('HSET', KEYS[1], 'owner', ARGV[1], 'token', token)
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[2]))
return {1, token}
`,
);

const RENEW = new LuaScript(
  "zone-lease-renew",
  `
local lease = redis.call('HMGET', KEYS[1], 'owner', 'token')
if lease[1] ~= ARGV[1] or lease[2] ~= ARGV[2] then return 0 end
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[3]))
return 1
`,
);

const RELEASE = new LuaScript(
  "zone-lease-release",
  `
local lease = redis.call('HMGET', KEYS[1], 'owner', 'token')
if lease[1] ~= ARGV[1] or lease[2] ~= ARGV[2] then return 0 end
return redis.call('DEL', KEYS[1])
`,
);

export interface ZoneLeaseOptions {
  /** Prefix of every key (e.g. `ow:za:`); a test picks one of its own. */
  prefix: string;
  /** This replica in Redis: unique to this process (e.g. instance id and participant channel). */
  owner: string;
  /** Time to live of a lease in Redis (default 1500 ms). */
  ttlMs?: number;
  /** How much earlier the local deadline falls (default 250 ms; see the module's doc). */
  marginMs?: number;
  /** How often held leases are renewed (default a fifth of the TTL). */
  renewEveryMs?: number;
  /** Called once when a held lease is lost: the replica must stop running the zone and drop its state. */
  onLost?: (zone: string, reason: LostReason) => void;
  log?: Logger;
}

/** `refused`: another replica holds the zone now. `expired`: no renewal got through before the deadline. */
export type LostReason = "refused" | "expired";

export type Acquired =
  | { acquired: true; token: number }
  /** Someone else holds it, under `token`, for `expiresInMs` more unless it renews. */
  | { acquired: false; holder: string; token: number; expiresInMs: number };

export interface LeaseHolder {
  owner: string;
  token: number;
  expiresInMs: number;
}

interface Held {
  readonly token: number;
  /** Local deadline on the monotonic clock (performance.now()). */
  deadline: number;
}

const now = () => performance.now();

export class ZoneLeases {
  readonly owner: string;
  readonly ttlMs: number;
  readonly marginMs: number;
  readonly renewEveryMs: number;
  private readonly held = new Map<string, Held>();
  private readonly acquiring = new Map<string, Promise<Acquired>>();
  private timer: NodeJS.Timeout | undefined;
  private renewing = false;

  constructor(
    private readonly redis: Redis,
    private readonly options: ZoneLeaseOptions,
  ) {
    this.owner = options.owner;
    this.ttlMs = options.ttlMs ?? DEFAULT_LEASE_TTL_MS;
    this.marginMs = options.marginMs ?? DEFAULT_LEASE_MARGIN_MS;
    this.renewEveryMs = options.renewEveryMs ?? Math.floor(this.ttlMs / RENEWALS_PER_TTL);
    if (!options.owner)
      throw new RangeError("ZoneLeases: owner must name this replica (got an empty string)");
    if (!(this.marginMs >= 0 && this.marginMs < this.ttlMs)) {
      throw new RangeError(
        `ZoneLeases: marginMs (${this.marginMs}) must be at least 0 and less than ttlMs (${this.ttlMs})`,
      );
    }
    if (!(this.renewEveryMs > 0 && 2 * this.renewEveryMs <= this.ttlMs - this.marginMs)) {
      throw new RangeError(
        `ZoneLeases: renewEveryMs (${this.renewEveryMs}) must be positive and at most half of ttlMs - marginMs (${this.ttlMs - this.marginMs}), so that one late renewal does not lose a lease`,
      );
    }
  }

  /** Starts renewing held leases every `renewEveryMs`, beginning with one round at once. */
  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => void this.renewAll(), this.renewEveryMs);
    this.timer.unref();
    void this.renewAll();
  }

  /** Stops renewing (held leases then lapse: `holds` turns false at their deadline). Releases nothing. */
  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  /** Stops renewing and gives every lease up, so other replicas take the zones without waiting. */
  async close(): Promise<void> {
    this.stop();
    await Promise.all([...this.held.keys()].map((zone) => this.release(zone)));
  }

  /** True while this replica may run `zone`: it holds the lease and the local deadline is ahead. */
  holds(zone: string): boolean {
    const lease = this.held.get(zone);
    return lease !== undefined && now() < lease.deadline;
  }

  /** The fencing token of a lease this replica holds (see `holds`), else undefined. */
  token(zone: string): number | undefined {
    return this.holds(zone) ? this.held.get(zone)!.token : undefined;
  }

  /** The zones this replica may run now. */
  zones(): string[] {
    return [...this.held.keys()].filter((zone) => this.holds(zone));
  }

  /**
   * Takes the zone's lease if it is free, expired or already ours (a new token either way, unless we
   * hold it and its deadline is ahead: then the token we have). Otherwise says who holds it and for
   * how long, so the caller knows when to try again.
   */
  acquire(zone: string): Promise<Acquired> {
    const token = this.token(zone);
    if (token !== undefined) return Promise.resolve({ acquired: true, token });
    let pending = this.acquiring.get(zone);
    if (!pending) {
      pending = this.take(zone).finally(() => this.acquiring.delete(zone));
      this.acquiring.set(zone, pending);
    }
    return pending;
  }

  private async take(zone: string): Promise<Acquired> {
    const sent = now();
    const reply = (await ACQUIRE.run(
      this.redis,
      [this.leaseKey(zone), this.tokenKey(zone)],
      [this.owner, this.ttlMs],
    )) as [number, ...unknown[]];
    if (reply[0] !== 1) {
      const [, holder, token, expiresInMs] = reply as [0, string, number, number];
      const stale = this.held.get(zone);
      if (stale) this.lose(zone, stale, "refused"); // ours once, past its deadline, and taken since
      return { acquired: false, holder, token, expiresInMs: Math.max(0, expiresInMs) };
    }
    const token = Number(reply[1]);
    this.held.set(zone, { token, deadline: sent + this.ttlMs - this.marginMs });
    return { acquired: true, token };
  }

  /** One renewal of every held lease (what the timer runs); a round still going is not doubled. */
  async renewAll(): Promise<void> {
    if (this.renewing) return;
    this.renewing = true;
    try {
      await Promise.all([...this.held].map(([zone, lease]) => this.renewLease(zone, lease)));
    } finally {
      this.renewing = false;
    }
  }

  /** Renews one lease now; false when it is not held, was refused (then `onLost`), or Redis failed. */
  renew(zone: string): Promise<boolean> {
    const lease = this.held.get(zone);
    return lease ? this.renewLease(zone, lease) : Promise.resolve(false);
  }

  private async renewLease(zone: string, lease: Held): Promise<boolean> {
    const sent = now();
    let renewed: boolean;
    try {
      renewed =
        (await withTimeout(
          RENEW.run(this.redis, [this.leaseKey(zone)], [this.owner, lease.token, this.ttlMs]),
          this.renewEveryMs,
          `renewal of zone ${zone}`,
        )) === 1;
    } catch (error) {
      this.options.log?.warn({ err: error, zone, token: lease.token }, "zone lease renewal failed");
      if (this.held.get(zone) === lease && now() >= lease.deadline) this.lose(zone, lease, "expired");
      return false;
    }
    if (this.held.get(zone) !== lease) return false; // released or lost meanwhile
    if (!renewed) {
      this.lose(zone, lease, "refused");
      return false;
    }
    lease.deadline = Math.max(lease.deadline, sent + this.ttlMs - this.marginMs);
    return true;
  }

  /**
   * Gives the lease up: this replica stops running the zone at once (before Redis hears of it), and
   * another can take it without waiting for the TTL. False if it was not held, or no longer ours.
   */
  async release(zone: string): Promise<boolean> {
    await this.acquiring.get(zone)?.catch(() => {}); // an acquisition under way ends first
    const lease = this.held.get(zone);
    if (!lease) return false;
    this.held.delete(zone);
    return this.releaseInRedis(zone, lease.token);
  }

  private async releaseInRedis(zone: string, token: number): Promise<boolean> {
    return (await RELEASE.run(this.redis, [this.leaseKey(zone)], [this.owner, token])) === 1;
  }

  /** Who holds the zone in Redis now, if anyone. */
  async holder(zone: string): Promise<LeaseHolder | undefined> {
    const key = this.leaseKey(zone);
    const [[, fields], [, ttl]] = (await this.redis
      .multi()
      .hmget(key, "owner", "token")
      .pttl(key)
      .exec()) as [[unknown, (string | null)[]], [unknown, number]];
    const [owner, token] = fields;
    if (owner == null || token == null) return undefined;
    return { owner, token: Number(token), expiresInMs: Math.max(0, ttl) };
  }

  /**
   * The newest fencing token of a zone (whether or not its lease is held now): a write carrying a smaller
   * one comes from a former owner and must be refused.
   */
  async currentToken(zone: string): Promise<number> {
    return Number((await this.redis.get(this.tokenKey(zone))) ?? 0);
  }

  /**
   * Deletes the fencing-token counters of zones that are gone for good (a closed instance's, whose key is
   * never used again); their leases must be free.
   */
  async forget(zones: readonly string[]): Promise<void> {
    await deleteKeys(
      this.redis,
      zones.map((zone) => this.tokenKey(zone)),
    );
  }

  private lose(zone: string, lease: Held, reason: LostReason): void {
    this.held.delete(zone);
    this.options.log?.warn({ zone, token: lease.token, reason }, "zone lease lost");
    if (reason === "expired") {
      // Still ours in Redis, perhaps: give it up so the next owner need not wait for the TTL.
      this.releaseInRedis(zone, lease.token).catch(() => {});
    }
    this.options.onLost?.(zone, reason);
  }

  private leaseKey(zone: string): string {
    return `${this.options.prefix}zone-lease:{${zone}}`;
  }

  private tokenKey(zone: string): string {
    return `${this.options.prefix}zone-token:{${zone}}`;
  }
}

/** The promise's result, or a rejection naming `what` after `ms`. */
function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer from Redis within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
