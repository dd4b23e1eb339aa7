-- Lets one session survive a global revocation (the caller's own): its creation time moves
-- to the watermark, so neither the sweep nor the watermark check in the services ends it.
-- Rotation keeps the creation time, so the session stays exempt when it is rotated later.
-- Surviving is no re-authentication: a session that never wrote its authentication time down
-- (it was its creation time) writes it now, before the creation time moves.
--
-- KEYS[1]  the session hash
-- ARGV[1]  the watermark, epoch milliseconds
--
-- Returns  1 when the session exists, 0 otherwise, or when its key holds another type than a
--          hash (nothing is written: never a resurrection).
local notBefore = int_arg(1)
if redis.call('TYPE', KEYS[1]).ok ~= 'hash' then
  return 0
end
local createdAt = redis.call('HGET', KEYS[1], FIELD.createdAt)
if createdAt then
  redis.call('HSETNX', KEYS[1], FIELD.authenticatedAt, createdAt)
end
redis.call('HSET', KEYS[1], FIELD.createdAt, notBefore)
return 1
