-- Lets one session survive a global revocation (the caller's own): its creation time moves
-- to the watermark, so neither the sweep nor the watermark check in the services ends it.
-- Rotation keeps the creation time, so the session stays exempt when it is rotated later.
--
-- KEYS[1]  the session hash
-- ARGV[1]  the watermark, epoch milliseconds
--
-- Returns  1 when the session exists, 0 otherwise (nothing is written: never a resurrection).
local notBefore = int_arg(1)
if redis.call('EXISTS', KEYS[1]) == 0 then
  return 0
end
redis.call('HSET', KEYS[1], FIELD.createdAt, notBefore)
return 1
