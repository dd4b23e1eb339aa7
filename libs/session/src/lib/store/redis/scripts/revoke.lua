-- Deletes one session and its index entry.
--
-- KEYS[1]  the session hash
-- ARGV[1]  key prefix of this user's indexes ("<prefix>{<tag>}:u:")
-- ARGV[2]  the session's digest
-- ARGV[3]  required owner's user id, or '' for any owner
--
-- Returns  1 when a session was deleted, 0 when there was none (or another user owns it).
-- The index key is built from ARGV[1] and the owner read from the hash: see README.md.
local indexPrefix, digest, owner = name_arg(1), name_arg(2), ARGV[3] or ''
local userId = redis.call('HGET', KEYS[1], FIELD.userId)
if not userId or (owner ~= '' and owner ~= userId) then
  return 0
end
redis.call('DEL', KEYS[1])
redis.call('ZREM', indexPrefix .. userId, digest)
return 1
