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
--          absolute deadline (the caller reports the expiry); otherwise the hash as a flat
--          field/value array, lastSeenAt set to the last touch. The clock is Redis's own, so
--          services with skewed clocks agree.
-- Commands: HGETALL, TIME, PTTL and at most one PEXPIRE — a validator's whole ACL.
local idle, touch = int_arg(1), int_arg(2)
local fields = redis.call('HGETALL', KEYS[1])
if #fields == 0 then
  return false
end

local now = now_ms()

local touchedAt, deadline, owner
for i = 1, #fields, 2 do
  local name = fields[i]
  if name == FIELD.userId then
    owner = fields[i + 1]
  elseif name == FIELD.lastSeenAt then
    touchedAt = i + 1
  elseif name == FIELD.absoluteExpiresAt then
    deadline = tonumber(fields[i + 1])
  elseif name == FIELD.idleTimeout then
    idle = tonumber(fields[i + 1]) or idle
  end
end

if not deadline or not touchedAt or now >= deadline then
  -- Nothing to delete: the hash's TTL never reaches past its deadline, so Redis removes it by
  -- itself. Validation writes nothing but the TTL, which keeps it within what a validating
  -- service's Redis ACL allows (no HSET, no DEL: see the README's least-privilege rules).
  if deadline and owner then
    return { owner }
  end
  return false
end

-- The last touch is read from the TTL it set, min(idle, deadline - touch time), not from a
-- field: sliding the idle timeout is then one PEXPIRE, the only write a validator may make.
local ttl = redis.call('PTTL', KEYS[1])
local lastSeen = tonumber(fields[touchedAt])
local capped = ttl >= 0 and now + ttl >= deadline
if ttl >= 0 and not capped then
  lastSeen = math.max(lastSeen, now + ttl - idle)
end
if ttl < 0 or (not capped and now - lastSeen >= math.min(touch, math.floor(idle / 10))) then
  redis.call('PEXPIRE', KEYS[1], math.min(idle, deadline - now))
  lastSeen = now
end
fields[touchedAt] = tostring(lastSeen)
return fields
