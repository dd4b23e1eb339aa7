-- Lists one user's live sessions without touching them.
--
-- KEYS[1]  the user's index
-- KEYS[2]  the tag's migration fence ("<prefix>{<tag>}:f"), a key that never exists
-- ARGV[1]  key prefix of this user's session hashes ("<prefix>{<tag>}:s:")
-- ARGV[2]  idle timeout, milliseconds, for sessions written before they carried their own
--
-- Returns  { { expiredDigest… }, digest, { field, value, … }, … }: the members pruned from
--          the index because their session expired, then the live sessions, oldest first.
--          lastSeenAt is read from each hash's TTL, as validate.lua reads it. A session key
--          holding another type than a hash (written by another program) is a damaged
--          session: deleted and pruned, as a hash without a deadline is.
-- Session keys are built from ARGV[1] and the index members: see README.md.
local prefix, fallbackIdle = name_arg(1), int_arg(2)
-- The fence never exists: declared, it makes Redis Cluster refuse this script (TRYAGAIN) while
-- the slot migrates, when the keys built below may be on the other node. See README.md.
if redis.call('EXISTS', KEYS[2]) == 1 then
  return redis.error_reply('ERR cloakroom: the fence key must not exist')
end
local now = now_ms()
local expired = {}
local result = { expired }
for _, member in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  local key = prefix .. member
  local kind = redis.call('TYPE', key).ok
  local fields = kind == 'hash' and redis.call('HGETALL', key) or {}
  local alive = #fields > 0
  if kind ~= 'hash' and kind ~= 'none' then
    redis.call('DEL', key)
  end
  local touchedAt, deadline, idle = nil, nil, fallbackIdle
  for i = 1, #fields, 2 do
    if fields[i] == FIELD.absoluteExpiresAt then
      deadline = tonumber(fields[i + 1])
    elseif fields[i] == FIELD.lastSeenAt then
      touchedAt = i + 1
    elseif fields[i] == FIELD.idleTimeout then
      idle = tonumber(fields[i + 1]) or fallbackIdle
    end
  end
  -- No readable deadline (a hash damaged by hand) is as dead as one past: validate.lua refuses
  -- it too, and one such session must not make the whole listing fail.
  if alive and not (deadline and deadline > now) then
    alive = false
    redis.call('DEL', key)
  end
  if alive and touchedAt then
    local ttl = redis.call('PTTL', key)
    local recorded = tonumber(fields[touchedAt]) or 0
    if ttl >= 0 and now + ttl < deadline then
      fields[touchedAt] = tostring(math.max(recorded, now + ttl - idle))
    elseif ttl >= 0 then
      -- Capped by the deadline: the touch came at or after deadline - idle (see validate.lua).
      fields[touchedAt] = tostring(math.max(recorded, math.min(deadline - idle, now)))
    end
  end
  if alive then
    result[#result + 1] = member
    result[#result + 1] = fields
  else
    redis.call('ZREM', KEYS[1], member)
    expired[#expired + 1] = member
  end
end
return result
