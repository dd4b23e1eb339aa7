-- Deletes one session and its index entry.
--
-- KEYS[1]  the session hash
-- ARGV[1]  key prefix of this user's indexes ("<prefix>{<tag>}:u:")
-- ARGV[2]  the session's digest
-- ARGV[3]  required owner's user id, or '' for any owner
--
-- Returns  1 when a session was deleted, 0 when there was none (or another user owns it).
local userId = redis.call('HGET', KEYS[1], 'u')
if not userId or (ARGV[3] ~= '' and ARGV[3] ~= userId) then
  return 0
end
redis.call('DEL', KEYS[1])
redis.call('ZREM', ARGV[1] .. userId, ARGV[2])
return 1
