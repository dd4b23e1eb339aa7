-- Deletes every session of one user, optionally all but one, and moves the user's
-- revocation generation, so a login that read the user before this cannot create a session
-- after it.
--
-- KEYS[1]  the user's index
-- KEYS[2]  the user's revocation generation
-- KEYS[3]  the tag's migration fence ("<prefix>{<tag>}:f"), a key that never exists
-- ARGV[1]  key prefix of this user's session hashes ("<prefix>{<tag>}:s:")
-- ARGV[2]  digest of the session to keep, or '' to delete them all
-- ARGV[3]  optional: key prefix of this tag's rotation forwards ("<prefix>{<tag>}:m:"). The
--          session to keep is kept under the digests it was rotated to moments ago too, as
--          revoke.lua follows them: the caller read its id before a re-authentication or a
--          password change of the same session rotated it (that one answered with the new
--          token, which must not die by "log out my other devices")
-- ARGV[4]  optional: the user's record of changes ("<prefix>{<tag>}:c:<userId>")
-- ARGV[5]  optional: this change's id, recorded there (see user-changes.lua); '' for none
--
-- Returns  { how many live sessions were deleted, the digest of the live session kept }: the
--          kept one is ARGV[2]'s or the one it was rotated to, which the caller announces as
--          kept (the holder's sockets stay open); { deleted } alone when none was kept.
-- Session keys are built from ARGV[1] and the index members: see README.md.
-- Registered with the flag allow-oom (see README.md): out of memory under noeviction, Redis
-- refuses an unflagged script at its first write that may grow memory unless it deleted
-- something before, so the INCR of a user with no session left to delete (disabling a user
-- already logged out, logging out the other devices when there are none) would fail, and the
-- generation that refuses a login already under way with it would not move.
local prefix, keep, forwardPrefix = name_arg(1), ARGV[2] or '', ARGV[3] or ''
local changesKey, change = ARGV[4] or '', change_arg(5)
local kept, chain = {}, {}
if keep ~= '' then
  kept[keep] = true
  chain[1] = keep
  local digest = keep
  -- A session rotates at most a few times within a forward's life: four hops end any chain.
  for _ = 1, (forwardPrefix ~= '' and 4 or 0) do
    digest = redis.call('GET', forwardPrefix .. digest)
    if not digest or kept[digest] then
      break
    end
    kept[digest] = true
    chain[#chain + 1] = digest
  end
end
-- The fence never exists: declared, it makes Redis Cluster refuse this script (TRYAGAIN) while
-- the slot migrates, when the keys built below may be on the other node. See README.md.
if redis.call('EXISTS', KEYS[3]) == 1 then
  return redis.error_reply('ERR cloakroom: the fence key must not exist')
end
local members = redis.call('ZRANGE', KEYS[1], 0, -1)
-- The generation moves before any session is written. A key there that INCR cannot move
-- (another type, or a string that is no integer, written by another program) must not fail
-- the script half-way, its answer a 503 ("nothing changed") over sessions already changed: it
-- is replaced by Redis's clock in microseconds, a value no login can have read, so that a
-- login under way is refused all the same.
local moved = redis.pcall('INCR', KEYS[2])
if type(moved) == 'table' and moved.err then
  redis.call('DEL', KEYS[2])
  redis.call('SET', KEYS[2], string.format('%d', now_us()))
end
record_change(changesKey, change)
local deleted, live = 0, {}
for _, member in ipairs(members) do
  if not kept[member] then
    deleted = deleted + redis.call('DEL', prefix .. member)
    redis.call('ZREM', KEYS[1], member)
  elseif redis.call('TYPE', prefix .. member).ok == 'hash' then
    live[member] = true
  end
end
-- One of the chain is live (a rotation moves the session; its undo moves it back): the
-- furthest along, should the index list more than one.
for i = #chain, 1, -1 do
  if live[chain[i]] then
    return { deleted, chain[i] }
  end
end
return { deleted }
