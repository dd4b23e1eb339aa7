-- Writes new roles into every live session of one user; their next request sees them.
--
-- KEYS[1]  the user's index
-- ARGV[1]  key prefix of this user's session hashes ("<prefix>{<tag>}:s:")
-- ARGV[2]  the encoded roles
--
-- Returns  how many live sessions were updated. Dead members are pruned on the way.
local updated = 0
for _, member in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  local key = ARGV[1] .. member
  if redis.call('EXISTS', key) == 1 then
    redis.call('HSET', key, 'r', ARGV[2])
    updated = updated + 1
  else
    redis.call('ZREM', KEYS[1], member)
  end
end
return updated
