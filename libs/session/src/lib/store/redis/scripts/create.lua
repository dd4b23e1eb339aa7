-- Creates a session, registers it in its user's index and enforces the per-user cap, unless
-- the user's revocation generation moved since the caller read it.
--
-- KEYS[1]  the new session hash
-- KEYS[2]  the user's index: a sorted set of session digests scored by creation time in
--          microseconds, so that two sessions created in one millisecond keep their order
-- KEYS[3]  the user's revocation generation (a counter; absent means 0)
-- ARGV[1]  idle timeout of this session, milliseconds (stored in it: its own policy)
-- ARGV[2]  absolute timeout of this session, milliseconds
-- ARGV[3]  most sessions one user may hold (0: no cap); over it the oldest are revoked
-- ARGV[4]  key prefix of this user's session hashes ("<prefix>{<tag>}:s:")
-- ARGV[5]  the new session's digest (its index member)
-- ARGV[6]  the generation the caller read before it read the user's roles, or '' to skip
--          the check
-- ARGV[7…] field/value pairs of the session hash, without the timestamps and the policy
--
-- Returns  { createdAt, evictedDigest… }, or { -1 } (nothing written) when the generation
--          moved: a role change, revoke-all or password change raced this login.
-- Session keys of other index members are built from ARGV[4]: see README.md.
local idle, absolute, cap = int_arg(1), int_arg(2), int_arg(3)
local prefix, digest, expected = name_arg(4), name_arg(5), ARGV[6] or ''
if (#ARGV - 6) % 2 ~= 0 then
  return redis.error_reply('ERR cloakroom: session fields must come in pairs')
end
if expected ~= '' and (redis.call('GET', KEYS[3]) or '0') ~= expected then
  return { -1 }
end
local nowUs = now_us()
local now = math.floor(nowUs / 1000)

-- Lazy pruning: index members whose hash expired are dropped here and in list.lua.
for _, member in ipairs(redis.call('ZRANGE', KEYS[2], 0, -1)) do
  if redis.call('EXISTS', prefix .. member) == 0 then
    redis.call('ZREM', KEYS[2], member)
  end
end

local result = { now }
if cap > 0 then
  local count = redis.call('ZCARD', KEYS[2])
  while count >= cap do
    local oldest = redis.call('ZPOPMIN', KEYS[2])
    redis.call('DEL', prefix .. oldest[1])
    result[#result + 1] = oldest[1]
    count = count - 1
  end
end

local fields = {
  FIELD.createdAt, now, FIELD.lastSeenAt, now, FIELD.absoluteExpiresAt, now + absolute,
  FIELD.idleTimeout, idle,
}
for i = 7, #ARGV do
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
