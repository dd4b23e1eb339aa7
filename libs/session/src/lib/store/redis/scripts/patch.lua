-- Writes and removes app attributes of a live session, field by field: concurrent
-- writers of different attributes never lose each other's changes. The session's attributes,
-- as the patch leaves them, must stay within the limits (how many, and the bytes of their
-- names and values), or at least not go further past them than they were (a session written
-- before the limits can still be trimmed): checked before anything is written.
--
-- KEYS[1]  the session hash
-- ARGV[1]  most attributes a session may hold
-- ARGV[2]  most bytes its attributes' names (prefix left out) and values may take together
-- ARGV[3]  the caller's deadline, epoch ms by Redis's clock, or 0 for none: a patch that
--          reaches Redis after it (a partition healed, a hung Redis woke up) writes nothing. Its
--          caller has answered that nothing was written, and may have written the attribute
--          again since, on another connection: the late value would overwrite the newer one.
-- ARGV[4]  how many field/value pairs follow to set (n)
-- ARGV[5 … 2n+4]  field/value pairs to set
-- ARGV[2n+5 …]    fields to remove
--
-- Returns  1, 0 when the session does not exist or its key holds another type than a hash,
--          written by another program (nothing is written: a patch never
--          resurrects a revoked session), or -1 when the attributes would go over the limits
--          (nothing is written); an error after the deadline. Every field named must be an
--          attribute ("a:…"): a patch can never change the user, roles or timestamps.
local maxCount, maxBytes = int_arg(1), int_arg(2)
local deadline = int_arg(3)
local pairsToSet = int_arg(4)
local firstRemoved = 5 + pairsToSet * 2
if firstRemoved - 1 > #ARGV then
  return redis.error_reply('ERR cloakroom: fewer field/value pairs than announced')
end
if pairsToSet + (#ARGV - firstRemoved + 1) > maxCount then
  return -1
end
for i = 5, firstRemoved - 1, 2 do
  check_attribute(ARGV[i])
end
for i = firstRemoved, #ARGV do
  check_attribute(ARGV[i])
end
if deadline > 0 and now_ms() > deadline then
  return redis.error_reply('ERR cloakroom: arrived after its deadline, changed nothing')
end
if redis.call('TYPE', KEYS[1]).ok ~= 'hash' then
  return 0
end
-- What each attribute weighs now, then as the patch would leave it.
local prefix = FIELD.attributePrefix
local weights, count, bytes = {}, 0, 0
local stored = redis.call('HGETALL', KEYS[1])
for i = 1, #stored, 2 do
  if string.sub(stored[i], 1, #prefix) == prefix then
    local weight = #stored[i] - #prefix + #stored[i + 1]
    weights[stored[i]] = weight
    count, bytes = count + 1, bytes + weight
  end
end
local countBefore, bytesBefore = count, bytes
for i = firstRemoved, #ARGV do
  if weights[ARGV[i]] then
    count, bytes = count - 1, bytes - weights[ARGV[i]]
    weights[ARGV[i]] = nil
  end
end
for i = 5, firstRemoved - 1, 2 do
  local weight = #ARGV[i] - #prefix + #ARGV[i + 1]
  if weights[ARGV[i]] then
    bytes = bytes - weights[ARGV[i]]
  else
    count = count + 1
  end
  weights[ARGV[i]] = weight
  bytes = bytes + weight
end
if (count > maxCount and count > countBefore) or (bytes > maxBytes and bytes > bytesBefore) then
  return -1
end
if pairsToSet > 0 then
  redis.call('HSET', KEYS[1], unpack(ARGV, 5, firstRemoved - 1))
end
if #ARGV >= firstRemoved then
  redis.call('HDEL', KEYS[1], unpack(ARGV, firstRemoved))
end
return 1
