-- Prelude: prepended to every script of this folder when it is registered (see
-- ../session-scripts.ts), right after the FIELD table of hash field names that
-- ../session-fields.ts generates. Defines helpers only: it runs no command.

-- The Redis server's clock in epoch microseconds: services with skewed clocks agree.
local function now_us()
  local clock = redis.call('TIME')
  return tonumber(clock[1]) * 1000000 + tonumber(clock[2])
end

-- The same clock in epoch milliseconds.
local function now_ms()
  return math.floor(now_us() / 1000)
end

-- ARGV[i] as a non-negative integer; anything else aborts the script before it writes.
local function int_arg(i)
  local value = tonumber(ARGV[i])
  if not value or value < 0 or value ~= math.floor(value) or value >= 2 ^ 53 then
    error(redis.error_reply('ERR cloakroom: ARGV[' .. i .. '] must be a non-negative integer'))
  end
  return value
end

-- ARGV[i] as a non-empty string; anything else aborts the script before it writes.
local function name_arg(i)
  local value = ARGV[i]
  if not value or value == '' then
    error(redis.error_reply('ERR cloakroom: ARGV[' .. i .. '] must not be empty'))
  end
  return value
end

-- Aborts unless name is an app attribute field ("a:<name>"), the only fields a patch writes.
local function check_attribute(name)
  if string.sub(name, 1, #FIELD.attributePrefix) ~= FIELD.attributePrefix then
    error(redis.error_reply('ERR cloakroom: only attribute fields may be patched'))
  end
end
