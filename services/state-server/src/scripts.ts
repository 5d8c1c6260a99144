/**
 * The Lua scripts that change live objects in Redis. Each runs atomically and touches the keys of one
 * hash slot only, all of them declared in KEYS (a Redis Cluster runs a script on the node of its keys'
 * slot and refuses keys it was not told of); the same scripts run on one Redis.
 *
 * Layout (every key starts with the configured prefix P; `{…}` is the hash tag that picks the slot):
 * - `P o:{<doId>}`: a hash per object: `c` class id, `p` parent, `z` zone, `a` AI channel, `x` "1" when
 *   the AI was set explicitly (else it is inherited from the parent), `w` owner channel, `d` "1" when
 *   the object is stored in Postgres; and one entry per stored field, named by its decimal field id,
 *   holding the packed value. This hash is the truth about the object.
 * - `P z:{<parent>}:<zone>`: the set of objects in a location; `P zs:{<parent>}`: the set of a parent's
 *   zones that hold at least one object (its active zones); `P ch:{<parent>}`: a hash, child doId → zone.
 *   They share the parent's slot (the parent object's own hash is there too), so one script keeps them
 *   consistent with each other.
 * - `P ai:{<channel>}`: the set of objects an AI runs.
 *
 * The indexes live in other slots than the object they list, so they are updated after the object's hash
 * changed, by idempotent steps (objects.ts): added after the hash says so (and before, so a crash between
 * the two leaves an entry too many, never one too few), removed and then checked against the hash (put
 * back if the hash says so meanwhile). Readers trust the hash over the index and repair what disagrees.
 * Numbers travel as decimal strings; 0 means "none". Objects whose parent is 0 have no location.
 */

/** KEYS: the object. ARGV: classId, parent, zone, AI, explicit ('1'/'0'), owner, stored, field id/value pairs. */
export const CREATE = `
local k = KEYS[1]
if redis.call('EXISTS', k) == 1 then return 'exists' end
local args = { 'c', ARGV[1], 'p', ARGV[2], 'z', ARGV[3], 'a', ARGV[4], 'x', ARGV[5], 'w', ARGV[6], 'd', ARGV[7] }
for i = 8, #ARGV do args[#args + 1] = ARGV[i] end
redis.call('HSET', k, unpack(args))
return 'ok'
`;

/**
 * Stores field values of several objects (on a cluster, objects of one slot). KEYS: the objects. ARGV: per
 * object: expected class id, pair count, pairs. Answers one text, six space-separated words per object:
 * status ('ok', 'missing', or 'class' when the object now has another class), parent, zone, AI, owner,
 * stored flag (one bulk reply instead of six per object: the state server reads it without a Buffer and
 * a string per word).
 */
export const APPLY = `
local out = {}
local i = 1
for o = 1, #KEYS do
  local k = KEYS[o]
  local cls, n = ARGV[i], tonumber(ARGV[i + 1])
  i = i + 2
  local m = redis.call('HMGET', k, 'c', 'p', 'z', 'a', 'w', 'd')
  if not m[1] then
    for _, v in ipairs({ 'missing', '0', '0', '0', '0', '0' }) do out[#out + 1] = v end
  elseif m[1] ~= cls then
    for _, v in ipairs({ 'class', '0', '0', '0', '0', '0' }) do out[#out + 1] = v end
  else
    if n > 0 then
      local args = {}
      for j = 0, 2 * n - 1 do args[#args + 1] = ARGV[i + j] end
      redis.call('HSET', k, unpack(args))
    end
    out[#out + 1] = 'ok'
    for j = 2, 6 do out[#out + 1] = m[j] or '0' end
  end
  i = i + 2 * n
end
return table.concat(out, ' ')
`;

/**
 * Moves an object, and with a third argument marks its AI explicit (zone AI handing an object to the next
 * zone's AI; the AI itself is set after, by SET_AI). KEYS: the object. ARGV: new parent, new zone[, AI].
 * Answers 'missing', 'same', or 'ok' with the old parent, old zone, old AI, explicit flag and owner.
 * The caller checked the new parent is not a descendant (that walk crosses slots).
 */
export const MOVE = `
local np, nz, newai = ARGV[1], ARGV[2], ARGV[3]
local k = KEYS[1]
local m = redis.call('HMGET', k, 'p', 'z', 'a', 'x', 'w')
if not m[1] then return { 'missing' } end
local op, oz, oldai, explicit, owner = m[1], m[2], m[3], m[4], m[5]
if op == np and oz == nz and (not newai or (explicit == '1' and oldai == newai)) then return { 'same' } end
redis.call('HSET', k, 'p', np, 'z', nz)
if newai then redis.call('HSET', k, 'x', '1') end
return { 'ok', op, oz, oldai, explicit, owner }
`;

/**
 * Sets one object's AI. KEYS: the object, its children hash (same slot). ARGV: AI, mode: 'explicit' (set,
 * mark explicit), 'inherit' (set, mark inherited), 'inherited' (set only if the object inherits its AI).
 * Answers 'missing', 'skip' (nothing changed), or 'ok' with the old AI and the object's children, whose
 * AI the caller passes on to those that inherit it.
 */
export const SET_AI = `
local k, ai, mode = KEYS[1], ARGV[1], ARGV[2]
local m = redis.call('HMGET', k, 'a', 'x')
if not m[1] then return { 'missing' } end
if mode == 'inherited' and m[2] ~= '0' then return { 'skip' } end
if mode == 'explicit' then redis.call('HSET', k, 'x', '1') end
if mode == 'inherit' then redis.call('HSET', k, 'x', '0') end
if m[1] == ai then return { 'skip' } end
redis.call('HSET', k, 'a', ai)
return { 'ok', m[1], redis.call('HKEYS', KEYS[2]) }
`;

/** KEYS: the object. ARGV: owner. Answers 'missing', 'same', or 'ok' with the old owner. */
export const SET_OWNER = `
local k, owner = KEYS[1], ARGV[1]
local old = redis.call('HGET', k, 'w')
if not old then return { 'missing' } end
if old == owner then return { 'same' } end
redis.call('HSET', k, 'w', owner)
return { 'ok', old }
`;

/**
 * Deletes one object if it is where the caller found it listed. KEYS: the object, its children hash.
 * ARGV: the parent, zone and AI it must have ('' for any: an index may list it stale). Answers 'missing'
 * (also when it is elsewhere), or 'ok' with its parent, zone, AI, owner, and its children (the caller
 * deletes them next, parents before their children).
 */
export const DESTROY = `
local m = redis.call('HMGET', KEYS[1], 'p', 'z', 'a', 'w')
if not m[1] then return { 'missing' } end
for j = 1, 3 do
  if ARGV[j] ~= '' and ARGV[j] ~= m[j] then return { 'missing' } end
end
redis.call('DEL', KEYS[1])
return { 'ok', m[1], m[2], m[3], m[4], redis.call('HKEYS', KEYS[2]) }
`;

/**
 * Puts an object in a location's indexes. KEYS: the zone's set, the parent's active zones, the parent's
 * children hash (one slot: the parent's). ARGV: doId, zone.
 */
export const INDEX_ADD = `
redis.call('SADD', KEYS[1], ARGV[1])
redis.call('SADD', KEYS[2], ARGV[2])
redis.call('HSET', KEYS[3], ARGV[1], ARGV[2])
return 1
`;

/** Takes an object out of a location's indexes (keys and arguments as INDEX_ADD). */
export const INDEX_REMOVE = `
redis.call('SREM', KEYS[1], ARGV[1])
if redis.call('SCARD', KEYS[1]) == 0 then redis.call('SREM', KEYS[2], ARGV[2]) end
if redis.call('HGET', KEYS[3], ARGV[1]) == ARGV[2] then redis.call('HDEL', KEYS[3], ARGV[1]) end
return 1
`;

/**
 * Refreshes the stored copy of a live object that is stored in Postgres, after a db write. KEYS: the
 * object. ARGV: field id/value pairs. Answers 1 if the object is live and stored, else 0.
 */
export const REFRESH_STORED = `
local k = KEYS[1]
if redis.call('HGET', k, 'd') ~= '1' then return 0 end
if #ARGV > 0 then redis.call('HSET', k, unpack(ARGV)) end
return 1
`;

/** Marks a live object as no longer stored (its stored copy was deleted). KEYS: the object. */
export const UNSTORE = `
local k = KEYS[1]
if redis.call('EXISTS', k) == 0 then return 0 end
redis.call('HSET', k, 'd', '0')
return 1
`;

/**
 * The scripts by command name, with how many keys each takes (fixed, so that ioredis finds the first key
 * to route a cluster's auto-pipelined call by; `owApply` takes any number, for one Redis).
 */
export const SCRIPTS = {
  owCreate: [CREATE, 1],
  owApply: [APPLY, undefined],
  owApplyOne: [APPLY, 1],
  owMove: [MOVE, 1],
  owSetAi: [SET_AI, 2],
  owSetOwner: [SET_OWNER, 1],
  owDestroy: [DESTROY, 2],
  owIndexAdd: [INDEX_ADD, 3],
  owIndexRemove: [INDEX_REMOVE, 3],
  owRefreshStored: [REFRESH_STORED, 1],
  owUnstore: [UNSTORE, 1],
} as const;

export type ScriptName = keyof typeof SCRIPTS;
