-- Validates a session in one round trip and slides its idle timeout.
--
-- KEYS[1]  the session hash
-- ARGV[1]  idle timeout, milliseconds, for sessions written before they carried their own:
--          a session slides by the idle timeout it was created with, whichever service
--          validates it
-- ARGV[2]  touch interval, milliseconds: the idle timeout slides only when at least this
--          much time (and at most a tenth of the session's idle timeout) has passed since
--          the last touch, so most requests write nothing
--
-- Returns  false when the session is missing; { userId } (one element) when it is past its
--          absolute deadline (the caller reports the expiry); otherwise one string, the values
--          separated by NUL bytes at fixed positions (`decodeValidated` in ../session-fields.ts
--          reads them): user id, username, roles, created, last touch, absolute deadline, idle
--          timeout, last authentication, persistent, device, ip, user agent (its chunks
--          joined), then one name/value pair per app attribute (the name without its `a:`).
--          Absent fields are empty. One string instead of the hash's ~20 field/value pairs
--          makes the reply cheap for the client to parse; a hash that holds a NUL byte in one
--          of those values gets the flat field/value array instead, lastSeenAt set to the last
--          touch. The clock is Redis's own, so services with skewed clocks agree.
-- Commands: HGETALL, TIME, PTTL and at most one PEXPIRE — a validator's whole ACL.
local idle, touch = int_arg(1), int_arg(2)
local fields = redis.call('HGETALL', KEYS[1])
if #fields == 0 then
  return false
end

local now = now_ms()

-- One pass, no table per field: this runs on every authenticated request.
local owner, username, roles, createdAt, deadline, ownIdle, authenticatedAt, persistent
local device, ip, userAgent, touchedAt, chunks
local attributes = {}
local a1, a2 = string.byte(FIELD.attributePrefix, 1, 2)
for i = 1, #fields, 2 do
  local name, value = fields[i], fields[i + 1]
  if name == FIELD.userId then
    owner = value
  elseif name == FIELD.username then
    username = value
  elseif name == FIELD.roles then
    roles = value
  elseif name == FIELD.createdAt then
    createdAt = value
  elseif name == FIELD.lastSeenAt then
    touchedAt = i + 1
  elseif name == FIELD.absoluteExpiresAt then
    deadline = value
  elseif name == FIELD.idleTimeout then
    ownIdle = value
  elseif name == FIELD.authenticatedAt then
    authenticatedAt = value
  elseif name == FIELD.persistent then
    persistent = value
  elseif name == FIELD.device then
    device = value
  elseif name == FIELD.ip then
    ip = value
  elseif name == FIELD.userAgent then
    userAgent = value
  elseif string.byte(name, 1) == a1 and string.byte(name, 2) == a2 then
    attributes[#attributes + 1] = i
  elseif string.sub(name, 1, #FIELD.userAgent) == FIELD.userAgent then
    chunks = chunks or {}
    local part = tonumber(string.sub(name, #FIELD.userAgent + 1))
    if part then
      chunks[part] = value
    end
  end
end
local deadlineMs = tonumber(deadline)
idle = tonumber(ownIdle) or idle

if not deadlineMs or not touchedAt or now >= deadlineMs then
  -- Nothing to delete: the hash's TTL never reaches past its deadline, so Redis removes it by
  -- itself. Validation writes nothing but the TTL, which keeps it within what a validating
  -- service's Redis ACL allows (no HSET, no DEL: see the README's least-privilege rules).
  if deadlineMs and owner then
    return { owner }
  end
  return false
end

-- The last touch is read from the TTL it set, min(idle, deadline - touch time), not from a
-- field: sliding the idle timeout is then one PEXPIRE, the only write a validator may make.
-- A TTL the deadline capped tells only that the touch came at or after deadline - idle: that
-- bound is the last touch then (the field still holds the creation), so the session is
-- reported live until its deadline, as it is.
local ttl = redis.call('PTTL', KEYS[1])
local lastSeen = tonumber(fields[touchedAt]) or 0
local capped = ttl >= 0 and now + ttl >= deadlineMs
if capped then
  lastSeen = math.max(lastSeen, math.min(deadlineMs - idle, now))
elseif ttl >= 0 then
  lastSeen = math.max(lastSeen, now + ttl - idle)
end
if ttl < 0 or (not capped and now - lastSeen >= math.min(touch, math.floor(idle / 10))) then
  redis.call('PEXPIRE', KEYS[1], math.min(idle, deadlineMs - now))
  lastSeen = now
end
lastSeen = tostring(lastSeen)

userAgent = userAgent or ''
if chunks then
  local part = 1
  while chunks[part] do
    userAgent = userAgent .. chunks[part]
    part = part + 1
  end
end
local reply = {
  owner or '', username or '', roles or '', createdAt or '', lastSeen, deadline,
  ownIdle or '', authenticatedAt or '', persistent or '', device or '', ip or '', userAgent,
}
for _, i in ipairs(attributes) do
  reply[#reply + 1] = string.sub(fields[i], #FIELD.attributePrefix + 1)
  reply[#reply + 1] = fields[i + 1]
end
-- A NUL inside a value would shift every value after it (a username could pose as roles):
-- such a hash, which this library never writes, is answered whole instead.
for i = 1, #reply do
  if string.find(reply[i], '\0', 1, true) then
    fields[touchedAt] = lastSeen
    return fields
  end
end
return table.concat(reply, '\0')
