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
-- The index key is built from ARGV[3] and the owner read from the hash: see README.md.
local idle, absolute = int_arg(1), int_arg(2)
local indexPrefix, oldDigest, newDigest = name_arg(3), name_arg(4), name_arg(5)
local fields = redis.call('HGETALL', KEYS[1])
if #fields == 0 then
  return false
end
local now = now_ms()

local userId
for i = 1, #fields, 2 do
  local name = fields[i]
  if name == FIELD.userId then
    userId = fields[i + 1]
  elseif name == FIELD.absoluteExpiresAt and tonumber(fields[i + 1]) <= now then
    redis.call('DEL', KEYS[1])
    return false
  elseif name == FIELD.createdAt or name == FIELD.lastSeenAt then
    fields[i + 1] = tostring(now)
  elseif name == FIELD.absoluteExpiresAt then
    fields[i + 1] = tostring(now + absolute)
  end
end

local index = indexPrefix .. userId
redis.call('DEL', KEYS[1])
redis.call('ZREM', index, oldDigest)
redis.call('HSET', KEYS[2], unpack(fields))
redis.call('PEXPIRE', KEYS[2], math.min(idle, absolute))
redis.call('ZADD', index, now, newDigest)
if redis.call('PTTL', index) < absolute then
  redis.call('PEXPIRE', index, absolute)
end
return fields
