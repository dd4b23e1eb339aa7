-- Undoes a rotation whose caller gave up waiting for its reply (and answered "unavailable"):
-- moves the session back from the new digest, whose token nobody was given, to the old one,
-- which its holder still presents. Sent right behind the rotation on the same connection, so
-- Redis runs it after the rotation, whenever it gets to both; finds nothing if the rotation
-- never ran, or did not move the session (it was gone), and undoing twice is undoing once.
--
-- Only a move rotate.lua made is undone: its forward from the old digest must still name the
-- new one (it lasts ARGV[5] ms), the old hash must be free, and the new one must be there (not
-- revoked, expired or ended by a revoke-all meanwhile). What else the rotation did stays done:
-- the other sessions a password change revoked stay revoked, and the generation it moved stays
-- moved (revocation is the safe direction); authenticatedAt and lastSeenAt stay as the rotation
-- set them (the user did give the password again, and did use the session).
--
-- KEYS[1]  the old session hash
-- KEYS[2]  the new session hash (same {tag} slot): both "<session prefix><digest>"
-- ARGV[1]  key prefix of this user's indexes ("<prefix>{<tag>}:u:")
-- ARGV[2]  key prefix of this tag's rotation forwards ("<prefix>{<tag>}:m:")
-- ARGV[3]  old digest
-- ARGV[4]  new digest
-- ARGV[5]  how long the new digest forwards to the old one, milliseconds (revoke.lua follows
--          it, so a revocation of the new id, read from a listing while the rotation stood,
--          still ends the session)
-- ARGV[6]  the user id the session must belong to, or '' for its owner whoever that is (the
--          new digest is the rotation's own, so nobody else's session can be found there)
-- ARGV[7]  optional: '1' when the caller WAITs for replicas after this call (the store's
--          `durability`), '0' or absent otherwise. Then the call writes, whatever it finds: it
--          sets and deletes <ARGV[2]>mark:<ARGV[4]>, which Redis replicates. A WAIT counts the
--          replicas that reached the last write of its own connection; a repeat that found the
--          undo done writes nothing else, and on a connection that wrote nothing before (the
--          last one broke) a WAIT would answer at once, confirming nothing. After the mark, it
--          covers everything Redis ran before, the undo sent earlier on any connection included.
--
-- Returns  1 when the session was moved back, 0 when nothing changed.
-- The index, forward and mark keys are built from ARGV prefixes: see README.md.
local indexPrefix, forwardPrefix = name_arg(1), name_arg(2)
local oldDigest, newDigest = name_arg(3), name_arg(4)
local forwardMs, owner = int_arg(5), ARGV[6] or ''
local marked = ARGV[7] or '0'
if marked ~= '0' and marked ~= '1' then
  return redis.error_reply('ERR cloakroom: ARGV[7] must be 0 or 1')
end
if forwardMs == 0 then
  return redis.error_reply('ERR cloakroom: the forward must last')
end
if oldDigest == newDigest then
  return redis.error_reply('ERR cloakroom: the digests must differ')
end
-- The keys must be the two digests' hashes under one prefix: the script moves a session to
-- KEYS[1], and must not be pointed at any other key.
local sessionPrefix = string.sub(KEYS[2], 1, #KEYS[2] - #newDigest)
if KEYS[2] ~= sessionPrefix .. newDigest or KEYS[1] ~= sessionPrefix .. oldDigest then
  return redis.error_reply('ERR cloakroom: the keys must be the digests\' session hashes')
end
if marked == '1' then
  -- Replicated as part of this script's effects, the undo's included: nothing stays.
  local mark = forwardPrefix .. 'mark:' .. newDigest
  redis.call('SET', mark, '1')
  redis.call('DEL', mark)
end

if redis.call('EXISTS', KEYS[1]) == 1 then
  return 0
end
local forward = forwardPrefix .. oldDigest
if redis.call('GET', forward) ~= newDigest then
  return 0
end
local userId = redis.call('HGET', KEYS[2], FIELD.userId)
if not userId or (owner ~= '' and userId ~= owner) then
  return 0
end

local index = indexPrefix .. userId
local createdAt = tonumber(redis.call('HGET', KEYS[2], FIELD.createdAt)) or 0
-- The old digest takes back its place in the index order, which the new one held.
local score = redis.call('ZSCORE', index, newDigest) or createdAt * 1000
-- Add before removing: an index emptied even for a moment is deleted with its TTL.
redis.call('ZADD', index, score, oldDigest)
redis.call('ZREM', index, newDigest)
-- RENAME keeps the TTL: the idle deadline the rotation set, never past the absolute one.
redis.call('RENAME', KEYS[2], KEYS[1])
redis.call('DEL', forward)
redis.call('SET', forwardPrefix .. newDigest, oldDigest, 'PX', forwardMs)
-- The index must outlive what it lists, as create.lua keeps it (it cannot be new here unless
-- Redis lost it, but a session must never outlive the index that lets it be revoked).
local deadline = tonumber(redis.call('HGET', KEYS[1], FIELD.absoluteExpiresAt))
local life = deadline and deadline - now_ms() or redis.call('PTTL', KEYS[1])
if life > 0 and redis.call('PTTL', index) < life then
  redis.call('PEXPIRE', index, life)
end
return 1
