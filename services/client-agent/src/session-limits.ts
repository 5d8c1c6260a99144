/**
 * Sessions per account and per address, counted over the whole cluster in Redis, so that they hold
 * whichever client agent a player reaches.
 *
 * Keys (under the agent's prefix, `ow:ca:{ca}` in the agent: one hash slot of a Redis Cluster for them all,
 * since the script below reads the leases of the agents it finds in the sets, keys it cannot declare):
 * - `agent:<agentChannel>`   this agent is alive: a lease renewed every LEASE_MS / 3;
 * - `account:<accountId>`    sorted set of the account's live sessions, `<agentChannel>:<clientChannel>`
 *                            by connect time (Redis's clock in µs, made strictly increasing per account);
 * - `address:<addressKey>`   the same, per client address (see `addressKey`: IPv6 by /64).
 *
 * One Lua script admits a session, atomically against every agent: it first forgets the sessions of agents
 * whose lease is gone (a crashed agent blocks nobody for longer than LEASE_MS), refuses the session if its
 * address already holds its limit, else adds it to both sets and, if the account now holds more than its
 * limit, takes the oldest others out and names them: the caller ends them (`messages.endSessions`). The
 * new session is never among those named. A session that ends is taken out of both sets by its agent.
 * Both sets expire KEYS_TTL_MS after the last admission to them, and each agent pushes that back every
 * hour for the sessions it holds, so what a crash leaves behind is gone within a day.
 */
import { type Logger, LuaScript, type Redis } from "@overworld/service";

/** A crashed agent's sessions count no longer than this. */
const LEASE_MS = 15_000;
const RENEWALS_PER_LEASE = 3;
/** The account and address sets live this long after their last admission unless refreshed. */
const KEYS_TTL_MS = 24 * 3_600_000;
const KEYS_REFRESH_MS = 3_600_000;

const ADMIT = new LuaScript(
  "client-agent-admit-session",
  `
local member, agents = ARGV[1], ARGV[2]
local perAccount, perAddress, ttl = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local alive = {}
local function prune(key)
  for _, each in ipairs(redis.call('ZRANGE', key, 0, -1)) do
    local agent = string.match(each, '^(%d+):')
    if alive[agent] == nil then alive[agent] = redis.call('EXISTS', agents .. agent) == 1 end
    if not alive[agent] then redis.call('ZREM', key, each) end
  end
end
prune(KEYS[2])
local held = redis.call('ZCARD', KEYS[2])
if held >= perAddress then return {0, held} end
prune(KEYS[1])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local newest = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')[2]
if newest and tonumber(newest) >= now then now = tonumber(newest) + 1 end
local score = string.format('%d', now) -- as a number, Lua would send only 14 digits
redis.call('ZADD', KEYS[1], score, member)
redis.call('ZADD', KEYS[2], score, member)
redis.call('PEXPIRE', KEYS[1], ttl)
redis.call('PEXPIRE', KEYS[2], ttl)
local over = redis.call('ZCARD', KEYS[1]) - perAccount
local ended = {}
if over > 0 then
  for _, each in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
    if #ended >= over then break end
    if each ~= member then
      ended[#ended + 1] = each
      redis.call('ZREM', KEYS[1], each)
    end
  end
end
return {1, ended}
`,
);

export interface SessionLimitRules {
  /** Live sessions an account may hold; a newer one ends the oldest. */
  readonly perAccount: number;
  /** Live sessions one address may hold; more are refused. */
  readonly perAddress: number;
}

export interface SessionIdentity {
  /** The session's client channel. */
  readonly client: number;
  readonly accountId: number;
  /** `addressKey` of where the client connects from. */
  readonly address: string;
}

export type Admission =
  /** Let in; `ended` are the client channels of the account's older sessions that must end now. */
  | { readonly admitted: true; readonly ended: readonly number[] }
  /** Refused: the address already holds `held` sessions, its limit. */
  | { readonly admitted: false; readonly held: number };

export class SessionLimits {
  private readonly held = new Map<number, SessionIdentity>();
  private readonly timers: NodeJS.Timeout[] = [];

  constructor(
    private readonly redis: Redis,
    /** Prefix of this agent's keys, e.g. `ow:ca:`. */
    private readonly prefix: string,
    /** This agent's participant channel: its sessions are `<agentChannel>:<client>`. */
    private readonly agentChannel: number,
    readonly rules: SessionLimitRules,
    private readonly log: Logger,
  ) {}

  /** Takes this agent's lease and keeps it (and the keys of its sessions) alive until `stop`. */
  async start(): Promise<void> {
    await this.renewLease();
    const renew = () => this.renewLease().catch((error: unknown) => this.warn("renew the lease", error));
    const refresh = () => this.refreshKeys().catch((error: unknown) => this.warn("refresh keys", error));
    this.timers.push(
      setInterval(renew, LEASE_MS / RENEWALS_PER_LEASE),
      setInterval(refresh, KEYS_REFRESH_MS),
    );
    for (const timer of this.timers) timer.unref();
  }

  /** Counts the session in, or refuses it (see the module's doc); rejects when Redis cannot be asked. */
  async admit(session: SessionIdentity): Promise<Admission> {
    this.held.set(session.client, session); // a release meanwhile is sent after this, so it wins
    try {
      const [admitted, detail] = (await ADMIT.run(
        this.redis,
        [this.accountKey(session.accountId), this.addressKey(session.address)],
        [
          this.member(session.client),
          `${this.prefix}agent:`,
          this.rules.perAccount,
          this.rules.perAddress,
          KEYS_TTL_MS,
        ],
      )) as [number, number | string[]];
      if (admitted !== 1) {
        this.held.delete(session.client);
        return { admitted: false, held: Number(detail) };
      }
      const ended = (detail as string[]).map((member) => Number(member.slice(member.indexOf(":") + 1)));
      return { admitted: true, ended };
    } catch (error) {
      this.held.delete(session.client);
      throw error;
    }
  }

  /** The session ended: it no longer counts (fire and forget; a failure is logged). */
  release(client: number): void {
    const session = this.held.get(client);
    if (session === undefined) return;
    this.held.delete(client);
    const member = this.member(client);
    this.redis
      .multi()
      .zrem(this.accountKey(session.accountId), member)
      .zrem(this.addressKey(session.address), member)
      .exec()
      .catch((error: unknown) => this.warn(`release session ${client}`, error));
  }

  /** Releases what is still held and gives up the lease: this agent's sessions count no more. */
  async stop(): Promise<void> {
    for (const timer of this.timers.splice(0)) clearInterval(timer);
    for (const client of [...this.held.keys()]) this.release(client);
    await this.redis.del(`${this.prefix}agent:${this.agentChannel}`);
  }

  private async renewLease(): Promise<void> {
    await this.redis.set(`${this.prefix}agent:${this.agentChannel}`, "1", "PX", LEASE_MS);
  }

  private async refreshKeys(): Promise<void> {
    const keys = new Set<string>();
    for (const session of this.held.values()) {
      keys.add(this.accountKey(session.accountId)).add(this.addressKey(session.address));
    }
    if (keys.size === 0) return;
    const pipeline = this.redis.pipeline();
    for (const key of keys) pipeline.pexpire(key, KEYS_TTL_MS);
    await pipeline.exec();
  }

  private member(client: number): string {
    return `${this.agentChannel}:${client}`;
  }

  private accountKey(accountId: number): string {
    return `${this.prefix}account:${accountId}`;
  }

  private addressKey(address: string): string {
    return `${this.prefix}address:${address}`;
  }

  private warn(what: string, error: unknown): void {
    this.log.warn({ err: error }, `session limits: could not ${what} in Redis`);
  }
}
