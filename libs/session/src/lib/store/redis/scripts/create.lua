-- Creates a session, registers it in its user's index and enforces the per-user cap.
--
-- KEYS[1]  the new session hash
-- KEYS[2]  the user's index: a sorted set of session digests scored by creation time
-- ARGV[1]  idle timeout, milliseconds
-- ARGV[2]  absolute timeout, milliseconds
-- ARGV[3]  most sessions one user may hold (0: no cap); over it the oldest are revoked
-- ARGV[4]  key prefix of this user's session hashes ("<prefix>{<tag>}:s:")
-- ARGV[5]  the new session's digest (its index member)
-- ARGV[6…] field/value pairs of the session hash, without the timestamps
--
-- Returns  { createdAt, evictedDigest… }
-- Session keys of other index members are built from ARGV[4]: see README.md.
local idle, absolute, cap = int_arg(1), int_arg(2), int_arg(3)
local prefix, digest = name_arg(4), name_arg(5)
if (#ARGV - 5) % 2 ~= 0 then
  return redis.error_reply('ERR cloakroom: session fields must come in pairs')
end
local now = now_ms()

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
}
for i = 6, #ARGV do
  fields[#fields + 1] = ARGV[i]
end
redis.call('HSET', KEYS[1], unpack(fields))
redis.call('PEXPIRE', KEYS[1], math.min(idle, absolute))
redis.call('ZADD', KEYS[2], now, digest)
if redis.call('PTTL', KEYS[2]) < absolute then
  redis.call('PEXPIRE', KEYS[2], absolute)
end
return result
