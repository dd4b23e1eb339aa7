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
-- Returns  false when the session is missing or past its absolute deadline (then it is
--          deleted); otherwise the hash as a flat field/value array, lastSeenAt already
--          updated. The clock is Redis's own, so services with skewed clocks agree.
local idle, touch = int_arg(1), int_arg(2)
local fields = redis.call('HGETALL', KEYS[1])
if #fields == 0 then
  return false
end

local now = now_ms()

local touchedAt, deadline
for i = 1, #fields, 2 do
  local name = fields[i]
  if name == FIELD.lastSeenAt then
    touchedAt = i + 1
  elseif name == FIELD.absoluteExpiresAt then
    deadline = tonumber(fields[i + 1])
  elseif name == FIELD.idleTimeout then
    idle = tonumber(fields[i + 1]) or idle
  end
end

if not deadline or not touchedAt or now >= deadline then
  redis.call('DEL', KEYS[1])
  return false
end

if now - tonumber(fields[touchedAt]) >= math.min(touch, math.floor(idle / 10)) then
  fields[touchedAt] = tostring(now)
  redis.call('HSET', KEYS[1], FIELD.lastSeenAt, fields[touchedAt])
  redis.call('PEXPIRE', KEYS[1], math.min(idle, deadline - now))
end

return fields
