-- Undoes a create whose caller gave up waiting for its reply (and answered "unavailable"):
-- deletes the session nobody was given the token of, and puts back the sessions that create
-- evicted at the user's cap, as they were — unless the user's generation moved since (a role
-- change, revoke-all or password change: what was evicted stays gone rather than come back
-- with what that change took away). Sent right behind the create on the same connection, so
-- Redis runs it after the create, whenever it gets to both; finds nothing if the create never
-- ran.
--
-- KEYS[1]  the abandoned session hash
-- KEYS[2]  the user's index
-- KEYS[3]  the user's revocation generation
-- ARGV[1]  the abandoned session's digest
-- ARGV[2]  the user id that session was created for
-- ARGV[3]  key prefix of this user's session hashes ("<prefix>{<tag>}:s:")
-- ARGV[4]  key prefix of this user's evicted sessions ("<prefix>{<tag>}:e:"), as create.lua
-- ARGV[5]  most sessions one user may hold (0: no cap): logins that came in between may have
--          taken the places, and a session is put back only into a free one
-- ARGV[6]  optional: how long, milliseconds, the sessions dropped are kept listed for a repeat
--          of this undo (0 or absent: not kept)
-- ARGV[7]  optional: '1' when the caller WAITs for replicas after this call (the store's
--          `durability`), '0' or absent otherwise. Then the call writes, whatever it finds: it
--          sets and deletes <ARGV[4]>mark:<ARGV[1]>, which Redis replicates. A WAIT counts the
--          replicas that reached the last write of its own connection; a repeat that finds the
--          undo done writes nothing else, and the first undo went out on another connection (the
--          create's). After the mark, a WAIT covers everything Redis ran before, that first undo
--          included.
--
-- Returns  { restored, { droppedDigest… } }: how many evicted sessions were put back, and the
--          evicted sessions that stay gone (a place taken, the generation moved, their time
--          up), which nobody has announced: the create's answer, which would have, was lost.
--          One ended otherwise meanwhile (a logout deletes what was set aside) is neither.
--          A repeat (the caller sends the undo until one is answered in time) puts nothing
--          back and answers what the first one dropped, listed under <ARGV[4]>undone:<ARGV[1]>:
--          the first one's answer may have come too late, or not at all, to be heard.
-- The evicted sessions' and the mark's keys are built from ARGV prefixes: see README.md.
local digest, userId = name_arg(1), name_arg(2)
local sessionPrefix, evictedPrefix, cap = name_arg(3), name_arg(4), int_arg(5)
local keepDropped = ARGV[6] and int_arg(6) or 0
local marked = ARGV[7] or '0'
if marked ~= '0' and marked ~= '1' then
  return redis.error_reply('ERR cloakroom: ARGV[7] must be 0 or 1')
end
if marked == '1' then
  -- Replicated as part of this script's effects, the undo's included: nothing stays.
  local mark = evictedPrefix .. 'mark:' .. digest
  redis.call('SET', mark, '1')
  redis.call('DEL', mark)
end
if redis.call('HGET', KEYS[1], FIELD.userId) == userId then
  redis.call('DEL', KEYS[1])
  redis.call('ZREM', KEYS[2], digest)
end
local undo = evictedPrefix .. 'undo:' .. digest
local undone = evictedPrefix .. 'undone:' .. digest
local record = redis.call('LRANGE', undo, 0, -1)
redis.call('DEL', undo)
local restored, dropped = 0, {}
if #record == 0 then
  return { restored, redis.call('LRANGE', undone, 0, -1) }
end
local generationMoved = (redis.call('GET', KEYS[3]) or '0') ~= record[1]
-- Rounded up: a session put back never outlives the deadline it had.
local elapsed = math.ceil((now_us() - tonumber(record[2])) / 1000)
for i = 3, #record, 3 do
  local victim, score, ttl = record[i], record[i + 1], tonumber(record[i + 2])
  local copy = evictedPrefix .. victim
  local full = cap > 0 and redis.call('ZCARD', KEYS[2]) >= cap
  if redis.call('EXISTS', copy) == 0 then
    -- Ended meanwhile, and announced by whatever ended it.
  elseif generationMoved or full or ttl - elapsed <= 0 then
    redis.call('DEL', copy)
    dropped[#dropped + 1] = victim
  elseif redis.call('RENAMENX', copy, sessionPrefix .. victim) == 1 then
    redis.call('PEXPIRE', sessionPrefix .. victim, ttl - elapsed)
    redis.call('ZADD', KEYS[2], score, victim)
    -- The index must outlive what it lists, as create.lua keeps it: this one may be new (the
    -- abandoned session's removal emptied it, and Redis deleted it with its TTL).
    local deadline = tonumber(redis.call('HGET', sessionPrefix .. victim, FIELD.absoluteExpiresAt))
    local life = deadline and deadline - now_ms() or ttl - elapsed
    if life > 0 and redis.call('PTTL', KEYS[2]) < life then
      redis.call('PEXPIRE', KEYS[2], life)
    end
    restored = restored + 1
  end
end
if #dropped > 0 and keepDropped > 0 then
  redis.call('RPUSH', undone, unpack(dropped))
  redis.call('PEXPIRE', undone, keepDropped)
end
return { restored, dropped }
