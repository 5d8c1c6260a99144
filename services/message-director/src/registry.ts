/**
 * The registry of live participants, kept in Redis so that a restart of the director (or a change of
 * leader) loses nothing: who joined, when each must heartbeat next, and the post-removes each
 * registered. Every change is one atomic Lua script; the claim of a dead participant's post-removes is
 * fenced by the leader lease, so exactly one director fires them.
 *
 * Keys (under the configured prefix and the hash tag `{md}`, so that every script's keys share one slot
 * of a Redis Cluster: the registry is small and lives on one master):
 * - `participants`   hash   channel -> JSON of the participant (role, instance, version, ...)
 * - `deadlines`      zset   channel -> when it is dead unless it heartbeats (ms, Redis clock);
 *                           -1 marks a registration superseded by a rejoin of the same instance
 * - `instances`      hash   role/instanceId -> channel of its current registration
 * - `proof:<hash>`   string a join proof already used (kept while a proof is good), so none is replayed
 * - `pr:<channel>`   list   the participant's post-removes (msgpack envelopes), in order
 * - `firing:<channel>` list the post-removes of a dead participant being published
 * - `firing-index`   zset   channel -> when its post-removes were claimed (to resume a crashed firing)
 * - `firing-info`    hash   channel -> JSON of the dead participant (for the event log)
 */
import { decodeEnvelope, encodeEnvelope, type messages } from "@overworld/protocol";
import { LuaScript, type Redis } from "@overworld/service";

export interface ParticipantInfo {
  role: string;
  instanceId: string;
  /** The public key the instance joined with: its identity. */
  key: string;
  version: string;
  schemaHash: number;
  joinedAt: number;
  director: string;
}

export interface RegistryKeys {
  participants: string;
  deadlines: string;
  instances: string;
  postRemoves(channel: number): string;
  proof(hash: string): string;
  firing(channel: number): string;
  firingIndex: string;
  firingInfo: string;
  lease: string;
  epoch: string;
  serving: string;
}

export function registryKeys(configured: string): RegistryKeys {
  const prefix = `${configured}{md}`;
  return {
    participants: `${prefix}participants`,
    deadlines: `${prefix}deadlines`,
    instances: `${prefix}instances`,
    postRemoves: (channel) => `${prefix}pr:${channel}`,
    proof: (hash) => `${prefix}proof:${hash}`,
    firing: (channel) => `${prefix}firing:${channel}`,
    firingIndex: `${prefix}firing-index`,
    firingInfo: `${prefix}firing-info`,
    lease: `${prefix}leader`,
    epoch: `${prefix}leader-epoch`,
    serving: `${prefix}serving`,
  };
}

/** A registration superseded by a rejoin: due at once, and heartbeats no longer revive it. */
const SUPERSEDED = -1;

/**
 * Registers a join unless its proof was used before ({-2}) or the instance is live under another key
 * ({-1, channel}); a live registration under the same key, or one past its deadline, is superseded.
 */
const JOIN = new LuaScript(
  "join",
  `
local now = now_ms()
if not redis.call('SET', KEYS[4], '1', 'NX', 'PX', ARGV[6]) then return {-2} end
local previous = redis.call('HGET', KEYS[3], ARGV[4])
if previous and previous ~= ARGV[1] then
  local score = redis.call('ZSCORE', KEYS[2], previous)
  if score and tonumber(score) > now then
    local ok, info = pcall(cjson.decode, redis.call('HGET', KEYS[1], previous) or '{}')
    if not ok or info.key ~= ARGV[5] then return {-1, previous} end
  end
  if score then redis.call('ZADD', KEYS[2], ${SUPERSEDED}, previous) end
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('ZADD', KEYS[2], now + tonumber(ARGV[3]), ARGV[1])
redis.call('HSET', KEYS[3], ARGV[4], ARGV[1])
return {1, previous or false}
`,
);

const HEARTBEAT = new LuaScript(
  "heartbeat",
  `
local score = redis.call('ZSCORE', KEYS[1], ARGV[1])
if not score or tonumber(score) < 0 then return 0 end
redis.call('ZADD', KEYS[1], 'XX', now_ms() + tonumber(ARGV[2]), ARGV[1])
return 1
`,
);

const GOODBYE = new LuaScript(
  "goodbye",
  `
local info = redis.call('HGET', KEYS[1], ARGV[1])
if not info then return false end
redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('DEL', KEYS[4])
local participant = cjson.decode(info)
local instance = participant.role .. '/' .. participant.instanceId
if redis.call('HGET', KEYS[3], instance) == ARGV[1] then redis.call('HDEL', KEYS[3], instance) end
return info
`,
);

const ADD_POST_REMOVES = new LuaScript(
  "add-post-removes",
  `
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0 then return -1 end
local adding = #ARGV - 2
if redis.call('LLEN', KEYS[2]) + adding > tonumber(ARGV[2]) then return -2 end
redis.call('RPUSH', KEYS[2], unpack(ARGV, 3))
return redis.call('LLEN', KEYS[2])
`,
);

const CLEAR_POST_REMOVES = new LuaScript(
  "clear-post-removes",
  `
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0 then return -1 end
return redis.call('DEL', KEYS[2])
`,
);

/**
 * The live registrations: those whose deadline is still ahead (by Redis's clock), so neither a
 * superseded one nor one past its deadline that the sweep has not claimed yet. Returns channel, info
 * pairs.
 */
const LIVE = new LuaScript(
  "live",
  `
local channels = redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. now_ms(), '+inf')
local reply = {}
if #channels == 0 then return reply end
local infos = redis.call('HMGET', KEYS[2], unpack(channels))
for i, channel in ipairs(channels) do
  if infos[i] then
    reply[#reply + 1] = channel
    reply[#reply + 1] = infos[i]
  end
end
return reply
`,
);

const DUE = new LuaScript(
  "due",
  `return redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now_ms() - tonumber(ARGV[2]), 'LIMIT', 0, tonumber(ARGV[1]))`,
);

/**
 * Claims a participant past its deadline, if the caller still holds the lease: removes it from the
 * registry and moves its post-removes to a firing list, all at once. Returns {-1} when the lease is
 * not the caller's, {0} when the participant is not (or no longer) due, {1, info, messages} otherwise.
 */
const CLAIM_DEAD = new LuaScript(
  "claim-dead",
  `
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return {-1} end
local now = now_ms()
local score = redis.call('ZSCORE', KEYS[2], ARGV[2])
if not score or tonumber(score) > now then return {0} end
redis.call('ZREM', KEYS[2], ARGV[2])
local info = redis.call('HGET', KEYS[3], ARGV[2]) or '{}'
redis.call('HDEL', KEYS[3], ARGV[2])
local ok, participant = pcall(cjson.decode, info)
if ok and participant.role and participant.instanceId then
  local instance = participant.role .. '/' .. participant.instanceId
  if redis.call('HGET', KEYS[4], instance) == ARGV[2] then redis.call('HDEL', KEYS[4], instance) end
end
redis.call('DEL', KEYS[6])
if redis.call('EXISTS', KEYS[5]) == 1 then redis.call('RENAME', KEYS[5], KEYS[6]) end
redis.call('ZADD', KEYS[7], now, ARGV[2])
redis.call('HSET', KEYS[8], ARGV[2], info)
return {1, info, redis.call('LRANGE', KEYS[6], 0, -1)}
`,
);

/** Takes over a firing left unfinished (its director died mid-way) for at least ARGV[3] ms. */
const RECLAIM_FIRING = new LuaScript(
  "reclaim-firing",
  `
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return {-1} end
local now = now_ms()
local claimed = redis.call('ZSCORE', KEYS[2], ARGV[2])
if not claimed or tonumber(claimed) > now - tonumber(ARGV[3]) then return {0} end
redis.call('ZADD', KEYS[2], now, ARGV[2])
return {1, redis.call('HGET', KEYS[4], ARGV[2]) or '{}', redis.call('LRANGE', KEYS[3], 0, -1)}
`,
);

const FINISH_FIRING = new LuaScript(
  "finish-firing",
  `
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('HDEL', KEYS[3], ARGV[1])
return redis.call('DEL', KEYS[2])
`,
);

export type JoinOutcome =
  | { status: "joined"; superseded: number | undefined }
  /** The instance is live under another key. */
  | { status: "taken"; by: number }
  /** The join's proof was used before. */
  | { status: "replayed" };

export type Claim =
  | { status: "not-leader" }
  | { status: "not-due" }
  | { status: "claimed"; info: Partial<ParticipantInfo>; messages: messages.PostRemove[] };

export class Registry {
  readonly keys: RegistryKeys;

  constructor(
    private readonly redis: Redis,
    prefix: string,
  ) {
    this.keys = registryKeys(prefix);
  }

  /**
   * Registers a participant with its first deadline. `proof` names the join's proof, refused if used
   * before (within `proofTtlMs`). Returns the channel of a registration it supersedes, or the refusal.
   */
  async join(
    channel: number,
    info: ParticipantInfo,
    deadAfterMs: number,
    proof: { id: string; ttlMs: number },
  ): Promise<JoinOutcome> {
    const k = this.keys;
    const [status, previous] = (await JOIN.run(
      this.redis,
      [k.participants, k.deadlines, k.instances, k.proof(proof.id)],
      [channel, JSON.stringify(info), deadAfterMs, `${info.role}/${info.instanceId}`, info.key, proof.ttlMs],
    )) as [number, string | null | false];
    if (status === -2) return { status: "replayed" };
    if (status === -1) return { status: "taken", by: Number(previous) };
    return { status: "joined", superseded: typeof previous === "string" ? Number(previous) : undefined };
  }

  /** Pushes the deadline back; false when the channel is not a live participant. */
  async heartbeat(channel: number, deadAfterMs: number): Promise<boolean> {
    return (await HEARTBEAT.run(this.redis, [this.keys.deadlines], [channel, deadAfterMs])) === 1;
  }

  /** Forgets a participant and its post-removes; returns what it was, or undefined if it was not live. */
  async goodbye(channel: number): Promise<ParticipantInfo | undefined> {
    const k = this.keys;
    const info = await GOODBYE.run(
      this.redis,
      [k.participants, k.deadlines, k.instances, k.postRemoves(channel)],
      [channel],
    );
    return typeof info === "string" ? (JSON.parse(info) as ParticipantInfo) : undefined;
  }

  async isParticipant(channel: number): Promise<boolean> {
    return (await this.redis.hexists(this.keys.participants, String(channel))) === 1;
  }

  /** What a live participant joined as, or undefined. */
  async info(channel: number): Promise<ParticipantInfo | undefined> {
    const info = await this.redis.hget(this.keys.participants, String(channel));
    return info === null ? undefined : (JSON.parse(info) as ParticipantInfo);
  }

  /** The live participants of one role (see LIVE), by channel. */
  async live(role: string): Promise<{ channel: number; info: ParticipantInfo }[]> {
    const k = this.keys;
    const pairs = (await LIVE.run(this.redis, [k.deadlines, k.participants], [])) as string[];
    const live: { channel: number; info: ParticipantInfo }[] = [];
    for (let i = 0; i + 1 < pairs.length; i += 2) {
      const info = JSON.parse(pairs[i + 1]!) as ParticipantInfo;
      if (info.role === role) live.push({ channel: Number(pairs[i]), info });
    }
    return live.sort((a, b) => a.channel - b.channel);
  }

  async count(): Promise<number> {
    return this.redis.hlen(this.keys.participants);
  }

  /**
   * Appends post-removes; returns how many the participant now has, "unknown" if it is not live, or
   * "over-limit" if they would exceed the limit (then none is added).
   */
  async addPostRemoves(
    channel: number,
    list: readonly messages.PostRemove[],
    limit: number,
  ): Promise<number | "unknown" | "over-limit"> {
    const k = this.keys;
    const encoded = list.map((message) => Buffer.from(encodeEnvelope(message)));
    const result = Number(
      await ADD_POST_REMOVES.run(
        this.redis,
        [k.participants, k.postRemoves(channel)],
        [channel, limit, ...encoded],
      ),
    );
    if (result === -1) return "unknown";
    if (result === -2) return "over-limit";
    return result;
  }

  /** Drops every post-remove of a participant; false if it is not live. */
  async clearPostRemoves(channel: number): Promise<boolean> {
    const k = this.keys;
    const result = await CLEAR_POST_REMOVES.run(
      this.redis,
      [k.participants, k.postRemoves(channel)],
      [channel],
    );
    return result !== -1;
  }

  /** Channels past their deadline (by Redis's clock), at most `limit` of them. */
  due(limit: number): Promise<number[]> {
    return this.dueIn(this.keys.deadlines, limit, 0);
  }

  private async dueIn(key: string, limit: number, ageMs: number): Promise<number[]> {
    const channels = (await DUE.run(this.redis, [key], [limit, ageMs])) as string[];
    return channels.map(Number);
  }

  /** Claims a dead participant's post-removes for firing, fenced by the lease value. */
  async claimDead(channel: number, leaseValue: string): Promise<Claim> {
    const k = this.keys;
    const reply = await CLAIM_DEAD.runBuffer(
      this.redis,
      [
        k.lease,
        k.deadlines,
        k.participants,
        k.instances,
        k.postRemoves(channel),
        k.firing(channel),
        k.firingIndex,
        k.firingInfo,
      ],
      [leaseValue, channel],
    );
    return toClaim(reply);
  }

  /** Firings claimed at least `staleMs` ago and never finished (their director died mid-way). */
  staleFirings(limit: number, staleMs: number): Promise<number[]> {
    return this.dueIn(this.keys.firingIndex, limit, staleMs);
  }

  async reclaimFiring(channel: number, leaseValue: string, staleMs: number): Promise<Claim> {
    const k = this.keys;
    const reply = await RECLAIM_FIRING.runBuffer(
      this.redis,
      [k.lease, k.firingIndex, k.firing(channel), k.firingInfo],
      [leaseValue, channel, staleMs],
    );
    return toClaim(reply);
  }

  /** Marks a firing done: its messages were published. */
  async finishFiring(channel: number): Promise<void> {
    const k = this.keys;
    await FINISH_FIRING.run(this.redis, [k.firingIndex, k.firing(channel), k.firingInfo], [channel]);
  }
}

function toClaim(reply: unknown): Claim {
  const [status, info, list] = reply as [number, Buffer?, Buffer[]?];
  if (status === -1) return { status: "not-leader" };
  if (status !== 1) return { status: "not-due" };
  return {
    status: "claimed",
    info: parseInfo(info),
    messages: (list ?? []).map((entry) => decodeEnvelope(entry) as messages.PostRemove),
  };
}

function parseInfo(info: Buffer | undefined): Partial<ParticipantInfo> {
  try {
    return JSON.parse(info?.toString("utf8") ?? "{}") as Partial<ParticipantInfo>;
  } catch {
    return {};
  }
}
