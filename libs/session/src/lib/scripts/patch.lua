-- Writes and removes app attributes of a live session, field by field: concurrent
-- writers of different attributes never lose each other's changes.
--
-- KEYS[1]  the session hash
-- ARGV[1]  how many field/value pairs follow to set (n)
-- ARGV[2 … 2n+1]  field/value pairs to set
-- ARGV[2n+2 …]    fields to remove
--
-- Returns  1, or 0 when the session does not exist (nothing is written: a patch never
--          resurrects a revoked session).
if redis.call('EXISTS', KEYS[1]) == 0 then
  return 0
end
local pairsToSet = tonumber(ARGV[1])
if pairsToSet > 0 then
  redis.call('HSET', KEYS[1], unpack(ARGV, 2, 1 + pairsToSet * 2))
end
if #ARGV > 1 + pairsToSet * 2 then
  redis.call('HDEL', KEYS[1], unpack(ARGV, 2 + pairsToSet * 2))
end
return 1
