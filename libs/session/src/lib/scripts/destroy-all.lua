-- Deletes every session of one user, optionally all but one.
--
-- KEYS[1]  the user's index
-- ARGV[1]  key prefix of this user's session hashes ("<prefix>{<tag>}:s:")
-- ARGV[2]  digest of the session to keep, or '' to delete them all
--
-- Returns  how many live sessions were deleted.
local deleted = 0
for _, member in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  if member ~= ARGV[2] then
    deleted = deleted + redis.call('DEL', ARGV[1] .. member)
    redis.call('ZREM', KEYS[1], member)
  end
end
return deleted
