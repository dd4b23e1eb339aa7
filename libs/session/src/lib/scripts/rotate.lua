-- Replaces a session by a new one with the same data and fresh timestamps: the old
-- digest stops working at once.
--
-- KEYS[1]  the old session hash
-- KEYS[2]  the new session hash (same {tag} slot)
-- ARGV[1]  idle timeout, milliseconds
-- ARGV[2]  absolute timeout, milliseconds
-- ARGV[3]  key prefix of this user's indexes ("<prefix>{<tag>}:u:")
-- ARGV[4]  old digest
-- ARGV[5]  new digest
--
-- Returns  the new hash as a flat field/value array, or false when the old session is
--          missing or past its absolute deadline.
local fields = redis.call('HGETALL', KEYS[1])
if #fields == 0 then
  return false
end
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
local idle, absolute = tonumber(ARGV[1]), tonumber(ARGV[2])

local userId
for i = 1, #fields, 2 do
  local name = fields[i]
  if name == 'u' then
    userId = fields[i + 1]
  elseif name == 'x' and tonumber(fields[i + 1]) <= now then
    redis.call('DEL', KEYS[1])
    return false
  elseif name == 'c' or name == 't' then
    fields[i + 1] = tostring(now)
  elseif name == 'x' then
    fields[i + 1] = tostring(now + absolute)
  end
end

local index = ARGV[3] .. userId
redis.call('DEL', KEYS[1])
redis.call('ZREM', index, ARGV[4])
redis.call('HSET', KEYS[2], unpack(fields))
redis.call('PEXPIRE', KEYS[2], math.min(idle, absolute))
redis.call('ZADD', index, now, ARGV[5])
if redis.call('PTTL', index) < absolute then
  redis.call('PEXPIRE', index, absolute)
end
return fields
