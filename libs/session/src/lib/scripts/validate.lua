-- Validates a session in one round trip and slides its idle timeout.
--
-- KEYS[1]  the session hash
-- ARGV[1]  idle timeout, milliseconds
-- ARGV[2]  touch interval, milliseconds: the idle timeout slides only when at least this
--          much time has passed since the last touch, so most requests write nothing
--
-- Returns  false when the session is missing or past its absolute deadline (then it is
--          deleted); otherwise the hash as a flat field/value array, 't' already updated.
--          The clock is Redis's own, so services with skewed clocks agree.
local fields = redis.call('HGETALL', KEYS[1])
if #fields == 0 then
  return false
end

local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)

local touchedAt, deadline
for i = 1, #fields, 2 do
  local name = fields[i]
  if name == 't' then
    touchedAt = i + 1
  elseif name == 'x' then
    deadline = tonumber(fields[i + 1])
  end
end

if not deadline or not touchedAt or now >= deadline then
  redis.call('DEL', KEYS[1])
  return false
end

if now - tonumber(fields[touchedAt]) >= tonumber(ARGV[2]) then
  fields[touchedAt] = tostring(now)
  redis.call('HSET', KEYS[1], 't', fields[touchedAt])
  redis.call('PEXPIRE', KEYS[1], math.min(tonumber(ARGV[1]), deadline - now))
end

return fields
