/**
 * The Lua scripts that change live objects in Redis. Each runs atomically, so two replicas changing
 * one object at once cannot interleave inside an operation (no lost update, no torn zone index).
 *
 * Layout (every key starts with the configured prefix P, passed as ARGV[1]):
 * - `P o:<doId>`: a hash per object: `c` class id, `p` parent, `z` zone, `a` AI channel, `x` "1" when
 *   the AI was set explicitly (else it is inherited from the parent), `w` owner channel, `d` "1" when
 *   the object is stored in Postgres; and one entry per stored field, named by its decimal field id,
 *   holding the packed value;
 * - `P z:<parent>:<zone>`: the set of objects in a location;
 * - `P zs:<parent>`: the set of a parent's zones that hold at least one object (its active zones);
 * - `P ai:<channel>`: the set of objects an AI runs.
 * Numbers travel as decimal strings; 0 means "none". Objects whose parent is 0 have no location.
 */

const PRELUDE = `
local P = ARGV[1]
local function okey(id) return P .. 'o:' .. id end
local function zkey(p, z) return P .. 'z:' .. p .. ':' .. z end
local function zskey(p) return P .. 'zs:' .. p end
local function aikey(ai) return P .. 'ai:' .. ai end

local function index_add(id, p, z)
  if p ~= '0' then
    redis.call('SADD', zkey(p, z), id)
    redis.call('SADD', zskey(p), z)
  end
end

local function index_remove(id, p, z)
  if p ~= '0' then
    local k = zkey(p, z)
    redis.call('SREM', k, id)
    if redis.call('SCARD', k) == 0 then redis.call('SREM', zskey(p), z) end
  end
end

local function children_of(id)
  local out = {}
  for _, z in ipairs(redis.call('SMEMBERS', zskey(id))) do
    for _, c in ipairs(redis.call('SMEMBERS', zkey(id, z))) do out[#out + 1] = c end
  end
  return out
end

-- The AI an object that did not choose one gets under parent p: the parent's, '0' without a parent,
-- nil when p is not a live object (then it keeps the one it has, as Astron's objects do).
local function inherited_ai(p)
  if p == '0' then return '0' end
  local a = redis.call('HGET', okey(p), 'a')
  if a then return a end
  return nil
end

-- Gives root the AI ai, and every descendant that inherits its AI too; records each change as id, old AI.
local function set_ai(root, ai, changes)
  local queue = { root }
  local i = 1
  while i <= #queue do
    local id = queue[i]
    i = i + 1
    local k = okey(id)
    local old = redis.call('HGET', k, 'a')
    if old and old ~= ai then
      redis.call('HSET', k, 'a', ai)
      if old ~= '0' then redis.call('SREM', aikey(old), id) end
      if ai ~= '0' then redis.call('SADD', aikey(ai), id) end
      changes[#changes + 1] = id
      changes[#changes + 1] = old
      for _, c in ipairs(children_of(id)) do
        if redis.call('HGET', okey(c), 'x') == '0' then queue[#queue + 1] = c end
      end
    end
  end
end
`;

/** ARGV: P, doId, classId, parent, zone, ai ('0': inherit), owner, stored, then field id/value pairs. */
export const CREATE = `${PRELUDE}
local id, cls, p, z, ai, owner, stored = ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6], ARGV[7], ARGV[8]
local k = okey(id)
if redis.call('EXISTS', k) == 1 then return { 'exists' } end
local explicit = '1'
if ai == '0' then
  explicit = '0'
  ai = inherited_ai(p) or '0'
end
local args = { 'c', cls, 'p', p, 'z', z, 'a', ai, 'x', explicit, 'w', owner, 'd', stored }
for i = 9, #ARGV do args[#args + 1] = ARGV[i] end
redis.call('HSET', k, unpack(args))
index_add(id, p, z)
if ai ~= '0' then redis.call('SADD', aikey(ai), id) end
return { 'ok', ai }
`;

/**
 * Stores field values of several objects. ARGV: P, then per object: doId, expected class id, pair
 * count, pairs. Answers one text, six space-separated words per object: status ('ok', 'missing', or
 * 'class' when the object now has another class), parent, zone, AI, owner, stored flag (one bulk reply
 * instead of six per object: the state server reads it without a Buffer and a string per word).
 */
export const APPLY = `${PRELUDE}
local out = {}
local i = 2
while i <= #ARGV do
  local id, cls, n = ARGV[i], ARGV[i + 1], tonumber(ARGV[i + 2])
  i = i + 3
  local k = okey(id)
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
 * Moves an object, and with a fifth argument sets its AI explicitly in the same step (zone AI handing an
 * object to the next zone's AI). ARGV: P, doId, new parent, new zone[, AI]. Answers 'missing', 'self',
 * 'cycle', 'same', or 'ok' with the old parent, old zone, old AI, owner and the AI changes it caused.
 */
export const MOVE = `${PRELUDE}
local id, np, nz, newai = ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local k = okey(id)
local m = redis.call('HMGET', k, 'p', 'z', 'a', 'x', 'w')
if not m[1] then return { 'missing' } end
local op, oz, oldai, explicit, owner = m[1], m[2], m[3], m[4], m[5]
if op == np and oz == nz and (not newai or (explicit == '1' and oldai == newai)) then return { 'same' } end
if np == id then return { 'self' } end
local cur, depth = np, 0
while cur ~= '0' and depth < 100000 do
  if cur == id then return { 'cycle' } end
  cur = redis.call('HGET', okey(cur), 'p') or '0'
  depth = depth + 1
end
index_remove(id, op, oz)
redis.call('HSET', k, 'p', np, 'z', nz)
index_add(id, np, nz)
local changes = {}
if newai then
  redis.call('HSET', k, 'x', '1')
  set_ai(id, newai, changes)
elseif explicit == '0' and np ~= op then
  local ai = inherited_ai(np)
  if ai then set_ai(id, ai, changes) end
end
return { 'ok', op, oz, oldai, owner, changes }
`;

/**
 * Sets an object's AI explicitly, or with '0' goes back to inheriting its parent's. ARGV: P, doId, AI.
 * Answers 'missing' or 'ok' with the AI changes (doId, old AI) of the object and its inheriting descendants.
 */
export const SET_AI = `${PRELUDE}
local id, ai = ARGV[2], ARGV[3]
local k = okey(id)
local p = redis.call('HGET', k, 'p')
if not p then return { 'missing' } end
local changes = {}
if ai == '0' then
  redis.call('HSET', k, 'x', '0')
  set_ai(id, inherited_ai(p) or '0', changes)
else
  redis.call('HSET', k, 'x', '1')
  set_ai(id, ai, changes)
end
return { 'ok', changes }
`;

/** ARGV: P, doId, owner. Answers 'missing', 'same', or 'ok' with the old owner. */
export const SET_OWNER = `${PRELUDE}
local id, owner = ARGV[2], ARGV[3]
local k = okey(id)
local old = redis.call('HGET', k, 'w')
if not old then return { 'missing' } end
if old == owner then return { 'same' } end
redis.call('HSET', k, 'w', owner)
return { 'ok', old }
`;

/**
 * Deletes objects with all their descendants. ARGV: P, mode, and its arguments:
 * 'object' doId | 'zone' parent zone | 'children' parent | 'ai' channel.
 * Answers 'missing' (mode 'object' only) or 'ok' followed by doId, parent, zone, AI, owner of every
 * deleted object, parents before their children.
 */
export const DESTROY = `${PRELUDE}
local mode = ARGV[2]
local roots
if mode == 'object' then
  if redis.call('EXISTS', okey(ARGV[3])) == 0 then return { 'missing' } end
  roots = { ARGV[3] }
elseif mode == 'zone' then
  roots = redis.call('SMEMBERS', zkey(ARGV[3], ARGV[4]))
elseif mode == 'children' then
  roots = children_of(ARGV[3])
elseif mode == 'ai' then
  roots = redis.call('SMEMBERS', aikey(ARGV[3]))
else
  return redis.error_reply('unknown destroy mode ' .. mode)
end
local out = { 'ok' }
local seen = {}
local queue = roots
local i = 1
while i <= #queue do
  local id = queue[i]
  i = i + 1
  if not seen[id] then
    seen[id] = true
    local k = okey(id)
    local m = redis.call('HMGET', k, 'p', 'z', 'a', 'w')
    if m[1] then
      for _, c in ipairs(children_of(id)) do queue[#queue + 1] = c end
      index_remove(id, m[1], m[2])
      if m[3] ~= '0' then redis.call('SREM', aikey(m[3]), id) end
      redis.call('DEL', k)
      out[#out + 1] = id
      for j = 1, 4 do out[#out + 1] = m[j] or '0' end
    end
  end
end
return out
`;

/**
 * Refreshes the stored copy of a live object that is stored in Postgres, after a db write: ARGV: P,
 * doId, then field id/value pairs. Answers 1 if the object is live and stored, else 0.
 */
export const REFRESH_STORED = `${PRELUDE}
local k = okey(ARGV[2])
if redis.call('HGET', k, 'd') ~= '1' then return 0 end
if #ARGV > 2 then
  local args = {}
  for i = 3, #ARGV do args[#args + 1] = ARGV[i] end
  redis.call('HSET', k, unpack(args))
end
return 1
`;

/** Marks a live object as no longer stored (its stored copy was deleted). ARGV: P, doId. */
export const UNSTORE = `${PRELUDE}
local k = okey(ARGV[2])
if redis.call('EXISTS', k) == 0 then return 0 end
redis.call('HSET', k, 'd', '0')
return 1
`;

export const SCRIPTS = {
  owCreate: CREATE,
  owApply: APPLY,
  owMove: MOVE,
  owSetAi: SET_AI,
  owSetOwner: SET_OWNER,
  owDestroy: DESTROY,
  owRefreshStored: REFRESH_STORED,
  owUnstore: UNSTORE,
} as const;

export type ScriptName = keyof typeof SCRIPTS;
