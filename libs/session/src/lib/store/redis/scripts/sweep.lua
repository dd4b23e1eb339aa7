-- Deletes one session if it was created before a global revocation's watermark (the
-- background half of "revoke every session"): the session and its index entry go together.
--
-- KEYS[1]  a session hash
-- ARGV[1]  the watermark, epoch milliseconds: sessions created before it die
-- ARGV[2]  key prefix of this user's indexes ("<prefix>{<tag>}:u:")
-- ARGV[3]  the session's digest (its index member)
--
-- Returns  1 when the session was deleted, 0 when it was created after the watermark (or
--          is gone already, or its key holds another type than a hash: no session, as
--          validate.lua refuses it; the owner's listing deletes it).
-- The index key is built from ARGV[2] and the owner read from the hash: see README.md.
local notBefore = int_arg(1)
local indexPrefix, digest = name_arg(2), name_arg(3)
if redis.call('TYPE', KEYS[1]).ok ~= 'hash' then
  return 0
end
local fields = redis.call('HMGET', KEYS[1], FIELD.createdAt, FIELD.userId)
local createdAt, owner = tonumber(fields[1]), fields[2]
if not createdAt or createdAt >= notBefore then
  return 0
end
redis.call('DEL', KEYS[1])
if owner then
  -- An index key holding another type (written by another program) must not fail the global
  -- revocation: the session is gone, the next key is swept all the same.
  redis.pcall('ZREM', indexPrefix .. owner, digest)
end
return 1
