-- Lets one session survive a global revocation (the caller's own): its creation time moves
-- to the watermark, so neither the sweep nor the watermark check in the services ends it.
-- Rotation keeps the creation time, so the session stays exempt when it is rotated later.
-- Also run on a login that Redis stamped before the watermark but made after it was set (in
-- its millisecond, or on a Cluster master whose clock runs behind): see the store's `create`.
-- A session rotated moments ago is found under the digest it moved to (rotate.lua leaves a
-- short-lived forward), as revoke.lua and revoke-all.lua follow it: the caller read its id
-- before a re-authentication or a password change of the same session rotated it, and holds
-- the new token now.
-- Surviving is no re-authentication: a session that never wrote its authentication time down
-- (it was its creation time) writes it now, before the creation time moves.
--
-- KEYS[1]  the session hash
-- KEYS[2]  the tag's migration fence ("<prefix>{<tag>}:f"), a key that never exists
-- ARGV[1]  the watermark, epoch milliseconds
-- ARGV[2]  the session's digest
-- ARGV[3]  key prefix of this tag's rotation forwards ("<prefix>{<tag>}:m:")
-- ARGV[4]  key prefix of this tag's session hashes ("<prefix>{<tag>}:s:")
--
-- Returns  the digest of the session kept (ARGV[2], or the one it was rotated to: the caller
--          announces that one as kept), or false when there is none, or when its key holds
--          another type than a hash (nothing is written: never a resurrection).
-- The forward and session keys are built from ARGV prefixes: see README.md.
local notBefore = int_arg(1)
local digest, forwardPrefix, sessionPrefix = name_arg(2), name_arg(3), name_arg(4)
-- The fence never exists: declared, it makes Redis Cluster refuse this script (TRYAGAIN) while
-- the slot migrates, when the keys built below may be on the other node. See README.md.
if redis.call('EXISTS', KEYS[2]) == 1 then
  return redis.error_reply('ERR cloakroom: the fence key must not exist')
end
local key = KEYS[1]
-- A session rotates at most a few times within a forward's life: four hops end any chain.
for _ = 0, 4 do
  local kind = redis.call('TYPE', key).ok
  if kind == 'hash' then
    local createdAt = redis.call('HGET', key, FIELD.createdAt)
    if createdAt then
      redis.call('HSETNX', key, FIELD.authenticatedAt, createdAt)
    end
    redis.call('HSET', key, FIELD.createdAt, notBefore)
    return digest
  end
  if kind ~= 'none' then
    return false
  end
  digest = redis.call('GET', forwardPrefix .. digest)
  if not digest then
    return false
  end
  key = sessionPrefix .. digest
end
return false
