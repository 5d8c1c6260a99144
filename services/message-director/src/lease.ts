/**
 * The leader lease: of all director replicas, the one holding it is the only one that declares deaths
 * and fires post-removes. It is a Redis key with a time to live, renewed by its holder; its value
 * carries a fencing token (a counter that only grows), and every claim of post-removes checks that value
 * inside the same atomic script, so a replica that lost the lease without noticing cannot act.
 *
 * Every replica also refreshes a short-lived "serving" mark while it answers heartbeats. When a replica
 * takes the lease and finds no such mark, nobody was receiving heartbeats for a while (the only
 * director was down), so the participants' deadlines are pushed back once, by a full deadline: those
 * still alive heartbeat again, those that died meanwhile are declared dead when it runs out.
 */
import { LuaScript, type Redis } from "@overworld/service";
import type { RegistryKeys } from "./registry.ts";

const ACQUIRE = new LuaScript(
  "acquire-lease",
  `
if redis.call('EXISTS', KEYS[1]) == 1 then return {0} end
local token = redis.call('INCR', KEYS[2])
local value = ARGV[1] .. '#' .. token
redis.call('SET', KEYS[1], value, 'PX', tonumber(ARGV[2]))
local extended = 0
if redis.call('EXISTS', KEYS[3]) == 0 then
  local horizon = now_ms() + tonumber(ARGV[3])
  local late = redis.call('ZRANGEBYSCORE', KEYS[4], '0', '(' .. horizon)
  for _, channel in ipairs(late) do
    redis.call('ZADD', KEYS[4], horizon, channel)
    extended = extended + 1
  end
end
return {1, value, extended}
`,
);

const RENEW = new LuaScript(
  "renew-lease",
  `
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[2]))
return 1
`,
);

const RELEASE = new LuaScript(
  "release-lease",
  `
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
return redis.call('DEL', KEYS[1])
`,
);

export type Acquired = { acquired: false } | { acquired: true; value: string; extended: number };

export class LeaderLease {
  constructor(
    private readonly redis: Redis,
    private readonly keys: RegistryKeys,
    private readonly instanceId: string,
    private readonly leaseMs: number,
  ) {}

  /**
   * Takes the lease if nobody holds it. `deadAfterMs` is how far deadlines are pushed back when no
   * replica was serving heartbeats (see above).
   */
  async acquire(deadAfterMs: number): Promise<Acquired> {
    const k = this.keys;
    const reply = (await ACQUIRE.run(
      this.redis,
      [k.lease, k.epoch, k.serving, k.deadlines],
      [this.instanceId, this.leaseMs, deadAfterMs],
    )) as [number, string?, number?];
    if (reply[0] !== 1) return { acquired: false };
    return { acquired: true, value: reply[1]!, extended: reply[2] ?? 0 };
  }

  /** Extends the lease; false if it is no longer ours (it expired and another replica took it). */
  async renew(value: string): Promise<boolean> {
    return (await RENEW.run(this.redis, [this.keys.lease], [value, this.leaseMs])) === 1;
  }

  /** Gives the lease up at once, so another replica takes over without waiting for it to expire. */
  async release(value: string): Promise<void> {
    await RELEASE.run(this.redis, [this.keys.lease], [value]);
  }

  /** Who holds the lease (`instance#token`), if anyone. */
  holder(): Promise<string | null> {
    return this.redis.get(this.keys.lease);
  }

  /** Says "heartbeats are being received" for the next `ttlMs`. */
  async markServing(ttlMs: number): Promise<void> {
    await this.redis.set(this.keys.serving, this.instanceId, "PX", ttlMs);
  }
}
