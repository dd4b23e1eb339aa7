-- Writes and removes app attributes of a live session, field by field: concurrent
-- writers of different attributes never lose each other's changes.
--
-- KEYS[1]  the session hash
-- ARGV[1]  how many field/value pairs follow to set (n)
-- ARGV[2 … 2n+1]  field/value pairs to set
-- ARGV[2n+2 …]    fields to remove
--
-- Returns  1, or 0 when the session does not exist (nothing is written: a patch never
--          resurrects a revoked session). Every field named must be an attribute ("a:…"):
--          a patch can never change the user, roles or timestamps.
local pairsToSet = int_arg(1)
local firstRemoved = 2 + pairsToSet * 2
if firstRemoved - 1 > #ARGV then
  return redis.error_reply('ERR cloakroom: fewer field/value pairs than announced')
end
for i = 2, firstRemoved - 1, 2 do
  check_attribute(ARGV[i])
end
for i = firstRemoved, #ARGV do
  check_attribute(ARGV[i])
end
if redis.call('EXISTS', KEYS[1]) == 0 then
  return 0
end
if pairsToSet > 0 then
  redis.call('HSET', KEYS[1], unpack(ARGV, 2, firstRemoved - 1))
end
if #ARGV >= firstRemoved then
  redis.call('HDEL', KEYS[1], unpack(ARGV, firstRemoved))
end
return 1
