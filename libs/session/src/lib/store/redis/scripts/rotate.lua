-- Moves a live session to a new digest (a new token): same user, attributes, creation time,
-- idle timeout and absolute deadline — a rotation never lengthens a session. The old digest
-- stops working at once. Optionally, in the same atomic step, revokes every other session of
-- the user and moves their revocation generation (a password change), and records that the
-- user has just authenticated again (authenticatedAt becomes now).
--
-- KEYS[1]  the old session hash
-- KEYS[2]  the new session hash (same {tag} slot)
-- ARGV[1]  idle timeout, milliseconds, for sessions written before they carried their own
-- ARGV[2]  key prefix of this user's indexes ("<prefix>{<tag>}:u:")
-- ARGV[3]  key prefix of this user's revocation generations ("<prefix>{<tag>}:g:")
-- ARGV[4]  key prefix of this user's session hashes ("<prefix>{<tag>}:s:")
-- ARGV[5]  old digest
-- ARGV[6]  new digest
-- ARGV[7]  a user id: revoke every other session of that user and move their generation;
--          '' to rotate only. The old session must then belong to that user.
-- ARGV[8]  '1': the user re-authenticated, authenticatedAt becomes now; '0' (or absent): kept
-- ARGV[9]  key prefix of this tag's rotation forwards ("<prefix>{<tag>}:m:")
-- ARGV[10] how long the old digest forwards to the new one, milliseconds (revoke.lua follows
--          it, so a revocation of the old id racing the rotation still ends the session)
-- ARGV[11] optional, with ARGV[7]: key prefix of this tag's records of changes
--          ("<prefix>{<tag>}:c:")
-- ARGV[12] optional, with ARGV[7]: this change's id, recorded in that user's record (see
--          user-changes.lua); '' for none
--
-- Returns  the new hash as a flat field/value array, or false when the old session is
--          missing (or its key holds another type than a hash, written by another program:
--          left as it is), past its absolute deadline, or not the given user's. With ARGV[7] the
--          user's other sessions are revoked whichever the answer, unless the old session
--          belongs to someone else (then nothing changes).
-- The index, generation and session keys are built from ARGV prefixes: see README.md.
local fallbackIdle = int_arg(1)
local indexPrefix, generationPrefix, sessionPrefix = name_arg(2), name_arg(3), name_arg(4)
local oldDigest, newDigest, revokeFor = name_arg(5), name_arg(6), ARGV[7] or ''
local reauthenticated = ARGV[8] or '0'
if reauthenticated ~= '0' and reauthenticated ~= '1' then
  return redis.error_reply("ERR cloakroom: ARGV[8] must be '0' or '1'")
end
local forwardPrefix, forwardMs = name_arg(9), int_arg(10)
local changesPrefix, change = ARGV[11] or '', change_arg(12)
if forwardMs == 0 then
  return redis.error_reply('ERR cloakroom: the forward must last')
end
local fields = {}
if redis.call('TYPE', KEYS[1]).ok == 'hash' then
  fields = redis.call('HGETALL', KEYS[1])
end
local now = now_ms()

local owner, createdAt, deadline, idle, authenticatedAt
for i = 1, #fields, 2 do
  local name, value = fields[i], fields[i + 1]
  if name == FIELD.userId then
    owner = value
  elseif name == FIELD.createdAt then
    createdAt = tonumber(value)
  elseif name == FIELD.absoluteExpiresAt then
    deadline = tonumber(value)
  elseif name == FIELD.idleTimeout then
    idle = tonumber(value)
  elseif name == FIELD.lastSeenAt then
    fields[i + 1] = tostring(now)
  elseif name == FIELD.authenticatedAt then
    authenticatedAt = i + 1
  end
end
if reauthenticated == '1' and #fields > 0 then
  if authenticatedAt then
    fields[authenticatedAt] = tostring(now)
  else
    fields[#fields + 1] = FIELD.authenticatedAt
    fields[#fields + 1] = tostring(now)
  end
end

if revokeFor ~= '' and owner ~= nil and owner ~= revokeFor then
  -- Someone else's session: never move it, never touch anything.
  return false
end
local live = owner ~= nil and deadline ~= nil and createdAt ~= nil and now < deadline
if owner ~= nil and not live then
  redis.call('DEL', KEYS[1])
end

if live then
  local index = indexPrefix .. owner
  -- The new digest takes the old one's place in the index order (creation order).
  local score = redis.call('ZSCORE', index, oldDigest) or createdAt * 1000
  -- Add before removing: an index emptied even for a moment is deleted with its TTL.
  redis.call('ZADD', index, score, newDigest)
  redis.call('ZREM', index, oldDigest)
  redis.call('DEL', KEYS[1])
  redis.call('HSET', KEYS[2], unpack(fields))
  redis.call('PEXPIRE', KEYS[2], math.min(idle or fallbackIdle, deadline - now))
  redis.call('SET', forwardPrefix .. oldDigest, newDigest, 'PX', forwardMs)
end

if revokeFor ~= '' then
  local index = indexPrefix .. revokeFor
  for _, member in ipairs(redis.call('ZRANGE', index, 0, -1)) do
    if not (live and member == newDigest) then
      redis.call('DEL', sessionPrefix .. member)
      redis.call('ZREM', index, member)
    end
  end
  redis.call('INCR', generationPrefix .. revokeFor)
  record_change(changesPrefix ~= '' and changesPrefix .. revokeFor or '', change)
end

if live then
  return fields
end
return false
