-- Deletes one session and its index entry. A session rotated moments ago is found under the
-- digest it moved to (rotate.lua leaves a short-lived forward): a logout or an administrator's
-- revocation that read the old id just before the rotation still ends the session.
--
-- KEYS[1]  the session hash
-- KEYS[2]  the tag's migration fence ("<prefix>{<tag>}:f"), a key that never exists
-- ARGV[1]  key prefix of this user's indexes ("<prefix>{<tag>}:u:")
-- ARGV[2]  the session's digest
-- ARGV[3]  required owner's user id, or '' for any owner
-- ARGV[4]  key prefix of this tag's rotation forwards ("<prefix>{<tag>}:m:")
-- ARGV[5]  key prefix of this tag's session hashes ("<prefix>{<tag>}:s:")
-- ARGV[6]  key prefix of this tag's evicted sessions ("<prefix>{<tag>}:e:"): a session found
--          there, evicted by a login moments ago, is deleted too, so that the undo of that login
--          (undo-create.lua) cannot bring it back
--
-- Returns  the digest of the session deleted (ARGV[2], or the one it was rotated to), or
--          false when there was none (or another user owns it). A session key holding another
--          type than a hash (written by another program) names no owner: it is deleted as the
--          session, when no owner is required or the required owner's index lists it.
-- The index, forward and session keys are built from ARGV prefixes: see README.md.
local indexPrefix, digest, owner = name_arg(1), name_arg(2), ARGV[3] or ''
local forwardPrefix, sessionPrefix, evictedPrefix = name_arg(4), name_arg(5), name_arg(6)
-- The fence never exists: declared, it makes Redis Cluster refuse this script (TRYAGAIN) while
-- the slot migrates, when the keys built below may be on the other node. See README.md.
if redis.call('EXISTS', KEYS[2]) == 1 then
  return redis.error_reply('ERR cloakroom: the fence key must not exist')
end
local key = KEYS[1]
-- A session rotates at most a few times within a forward's life: four hops end any chain.
for _ = 1, 4 do
  local kind = redis.call('TYPE', key).ok
  if kind ~= 'hash' and kind ~= 'none' then
    local index = indexPrefix .. owner
    if owner ~= '' and not redis.call('ZSCORE', index, digest) then
      return false
    end
    redis.call('DEL', key)
    if owner ~= '' then
      redis.call('ZREM', index, digest)
    end
    return digest
  end
  local userId = kind == 'hash' and redis.call('HGET', key, FIELD.userId)
  if userId then
    if owner ~= '' and owner ~= userId then
      return false
    end
    redis.call('DEL', key)
    -- An index key holding another type (written by another program) must not fail the
    -- revocation once the session is gone: the answer would be 503, "nothing changed".
    redis.pcall('ZREM', indexPrefix .. userId, digest)
    return digest
  end
  local forward = redis.call('GET', forwardPrefix .. digest)
  if not forward then
    local evicted = evictedPrefix .. digest
    if owner == '' or redis.call('HGET', evicted, FIELD.userId) == owner then
      redis.call('DEL', evicted)
    end
    return false
  end
  digest = forward
  key = sessionPrefix .. digest
end
return false
