-- Creates a session, registers it in its user's index and enforces the per-user cap, unless
-- the user's revocation generation moved since the caller read it.
--
-- KEYS[1]  the new session hash
-- KEYS[2]  the user's index: a sorted set of session digests scored by creation time in
--          microseconds, so that two sessions created in one millisecond keep their order
-- KEYS[3]  the user's revocation generation (a counter; absent means 0)
-- ARGV[1]  idle timeout of this session, milliseconds (stored in it: its own policy)
-- ARGV[2]  absolute timeout of this session, milliseconds
-- ARGV[3]  most sessions one user may hold (0: no cap)
-- ARGV[4]  what to do at the cap: 'evict-oldest' (revoke the oldest), 'evict-idlest' (revoke
--          the least recently used) or 'refuse' (write nothing)
-- ARGV[5]  idle timeout, milliseconds, of sessions written before they carried their own
--          (to tell how recently they were used)
-- ARGV[6]  key prefix of this user's session hashes ("<prefix>{<tag>}:s:")
-- ARGV[7]  the new session's digest (its index member)
-- ARGV[8]  the generation the caller read before it read the user's roles, or '' to skip
--          the check
-- ARGV[9]  key prefix of this user's evicted sessions kept for an undo ("<prefix>{<tag>}:e:")
-- ARGV[10] how long, milliseconds, sessions this create evicts are kept for its undo
--          (undo-create.lua) — 0: not kept
-- ARGV[11…] field/value pairs of the session hash, without the timestamps and the policy
--
-- Returns  { createdAt, { expiredDigest… }, evictedDigest… }; { -1 } (nothing written) when
--          the generation moved: a role change, revoke-all or password change raced this
--          login; with 'refuse' at the cap, { -2, { expiredDigest… }, digest,
--          { field, value, … }, … }: nothing written but the pruning, and the user's live
--          sessions oldest first, lastSeenAt read from their TTL. Expired digests are the index
--          members pruned because their session was gone: Redis ended it at its deadline.
-- An evicted session is not deleted but renamed to <ARGV[9]><victim digest>, and listed with
-- its index score and remaining TTL under <ARGV[9]>undo:<new digest>, both for ARGV[10] ms:
-- if the caller gave up waiting for this reply (it answered "unavailable"), its undo
-- (undo-create.lua) brings them back.
-- Session keys of other index members are built from ARGV[6] and ARGV[9]: see README.md.
local idle, absolute, cap = int_arg(1), int_arg(2), int_arg(3)
local policy, fallbackIdle = name_arg(4), int_arg(5)
local prefix, digest, expected = name_arg(6), name_arg(7), ARGV[8] or ''
local evictedPrefix, undoGrace = name_arg(9), int_arg(10)
local FIRST_FIELD = 11
if policy ~= 'evict-oldest' and policy ~= 'evict-idlest' and policy ~= 'refuse' then
  return redis.error_reply('ERR cloakroom: unknown cap policy')
end
if idle == 0 or absolute == 0 then
  return redis.error_reply('ERR cloakroom: timeouts must be positive')
end
if (#ARGV - FIRST_FIELD + 1) % 2 ~= 0 then
  return redis.error_reply('ERR cloakroom: session fields must come in pairs')
end
for i = FIRST_FIELD, #ARGV, 2 do
  -- The timestamps and the policy are this script's to write, never the caller's.
  local name = ARGV[i]
  if name == FIELD.createdAt or name == FIELD.lastSeenAt or name == FIELD.absoluteExpiresAt
    or name == FIELD.idleTimeout or name == FIELD.authenticatedAt then
    return redis.error_reply('ERR cloakroom: session fields may not set the timestamps')
  end
end
if expected ~= '' and (redis.call('GET', KEYS[3]) or '0') ~= expected then
  return { -1 }
end
local nowUs = now_us()
local now = math.floor(nowUs / 1000)

-- Lazy pruning: index members whose hash expired are dropped here, in list.lua and in
-- set-roles.lua, and answered, so that their expiry is reported once. A member whose key holds
-- another type than a hash (written by another program) is a damaged session: deleted and
-- dropped too, so that the cap counts it no more and nothing below reads it as a hash.
local expired = {}
for _, member in ipairs(redis.call('ZRANGE', KEYS[2], 0, -1)) do
  local kind = redis.call('TYPE', prefix .. member).ok
  if kind ~= 'hash' then
    if kind ~= 'none' then
      redis.call('DEL', prefix .. member)
    end
    redis.call('ZREM', KEYS[2], member)
    expired[#expired + 1] = member
  end
end

-- How recently a live member was used; members past their deadline count as never. As in
-- validate.lua, the last touch is read from the TTL it set, min(idle, deadline - touch time).
-- A TTL the absolute deadline capped tells only that the touch came at or after
-- deadline - idle: that bound is used then.
local function member_last_seen(member)
  local key = prefix .. member
  local values = redis.call('HMGET', key, FIELD.lastSeenAt, FIELD.absoluteExpiresAt,
    FIELD.idleTimeout)
  local recorded, deadline = tonumber(values[1]), tonumber(values[2])
  if not recorded or not deadline or deadline <= now then
    return -1
  end
  local idleOf = tonumber(values[3]) or fallbackIdle
  local ttl = redis.call('PTTL', key)
  if ttl < 0 then
    return recorded
  elseif now + ttl < deadline then
    return math.max(recorded, now + ttl - idleOf)
  end
  return math.max(recorded, math.min(deadline - idleOf, now))
end

local result = { now, expired }
if cap > 0 then
  local count = redis.call('ZCARD', KEYS[2])
  if count >= cap and policy == 'refuse' then
    local refused = { -2, expired }
    for _, member in ipairs(redis.call('ZRANGE', KEYS[2], 0, -1)) do
      local fields = redis.call('HGETALL', prefix .. member)
      for i = 1, #fields, 2 do
        if fields[i] == FIELD.lastSeenAt then
          fields[i + 1] = tostring(math.max(member_last_seen(member), tonumber(fields[i + 1]) or 0))
        end
      end
      refused[#refused + 1] = member
      refused[#refused + 1] = fields
    end
    return refused
  end
  -- What the undo needs: the generation it must still find, the time of the eviction (µs), then
  -- digest, index score and remaining TTL of each session evicted.
  local undo = evictedPrefix .. 'undo:' .. digest
  local function evict(victim, score)
    local key = prefix .. victim
    local ttl = redis.call('PTTL', key)
    if undoGrace == 0 or ttl <= 0 then
      redis.call('DEL', key)
      return
    end
    if redis.call('EXISTS', undo) == 0 then
      redis.call('RPUSH', undo, redis.call('GET', KEYS[3]) or '0', nowUs)
    end
    redis.call('RENAME', key, evictedPrefix .. victim)
    redis.call('PEXPIRE', evictedPrefix .. victim, math.min(ttl, undoGrace))
    redis.call('RPUSH', undo, victim, score, ttl)
    redis.call('PEXPIRE', undo, undoGrace)
  end
  while count >= cap do
    local victim, score
    if policy == 'evict-idlest' then
      -- Ties go to the older session: ZRANGE walks the index oldest first.
      local idlest
      for _, member in ipairs(redis.call('ZRANGE', KEYS[2], 0, -1)) do
        local seen = member_last_seen(member)
        if idlest == nil or seen < idlest then
          victim, idlest = member, seen
        end
      end
      score = redis.call('ZSCORE', KEYS[2], victim)
      redis.call('ZREM', KEYS[2], victim)
    else
      local popped = redis.call('ZPOPMIN', KEYS[2])
      victim, score = popped[1], popped[2]
    end
    evict(victim, score)
    result[#result + 1] = victim
    count = count - 1
  end
end

-- No authenticatedAt: a session without one was last authenticated when it was created (a
-- rotation that re-authenticates writes it). Those 12 bytes keep a typical session's hash in a
-- smaller allocation.
local fields = {
  FIELD.createdAt, now, FIELD.lastSeenAt, now, FIELD.absoluteExpiresAt, now + absolute,
  FIELD.idleTimeout, idle,
}
for i = FIRST_FIELD, #ARGV do
  fields[#fields + 1] = ARGV[i]
end
redis.call('HSET', KEYS[1], unpack(fields))
redis.call('PEXPIRE', KEYS[1], math.min(idle, absolute))
redis.call('ZADD', KEYS[2], nowUs, digest)
-- The index lives at least as long as its longest-lived member: a session never outlives
-- the index that lets it be listed and revoked (rotation keeps deadlines, so this holds).
if redis.call('PTTL', KEYS[2]) < absolute then
  redis.call('PEXPIRE', KEYS[2], absolute)
end
return result
