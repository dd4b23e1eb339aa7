-- Creates a session, registers it in its user's index and enforces the per-user cap.
--
-- KEYS[1]  the new session hash
-- KEYS[2]  the user's index: a sorted set of session digests scored by creation time
-- ARGV[1]  idle timeout, milliseconds
-- ARGV[2]  absolute timeout, milliseconds
-- ARGV[3]  most sessions one user may hold (0: no cap); over it the oldest are revoked
-- ARGV[4]  key prefix of this user's session hashes ("<prefix>{<tag>}:s:")
-- ARGV[5]  the new session's digest (its index member)
-- ARGV[6…] field/value pairs of the session hash
--
-- Returns  { createdAt, evictedDigest… }
-- Every key used shares the {tag} hash slot, so this runs unchanged on Redis Cluster.
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
local idle, absolute, cap = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local prefix = ARGV[4]

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

local fields = { 'c', now, 't', now, 'x', now + absolute }
for i = 6, #ARGV do
  fields[#fields + 1] = ARGV[i]
end
redis.call('HSET', KEYS[1], unpack(fields))
redis.call('PEXPIRE', KEYS[1], math.min(idle, absolute))
redis.call('ZADD', KEYS[2], now, ARGV[5])
if redis.call('PTTL', KEYS[2]) < absolute then
  redis.call('PEXPIRE', KEYS[2], absolute)
end
return result
