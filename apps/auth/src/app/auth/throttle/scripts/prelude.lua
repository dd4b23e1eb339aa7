-- Prelude: prepended to every login-throttle script (see ../throttle-scripts.ts). Defines
-- helpers only: it runs no command but TIME.
--
-- A counter is a hash { n = attempts counted, w = window id } that expires at the end of its
-- window. The window id (the Redis clock when the window opened, to the microsecond) lets a
-- refund tell "my window" from a later one that reuses the key: a refund that arrives after
-- its window ended must not lower the count of the next one.

-- The Redis server's clock: every auth instance agrees on it.
local clock = redis.call('TIME')
local NOW_MS = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
local NOW_ID = clock[1] .. '.' .. clock[2]

-- A whole number as Redis should read it: Lua would print a large one as 1.7e+15.
local function int_text(value)
  return string.format('%.0f', value)
end

-- ARGV[i] as an integer in [min, 2^53); anything else aborts the script before it writes.
local function int_arg(i, min)
  local value = tonumber(ARGV[i])
  if not value or value < min or value ~= math.floor(value) or value >= 2 ^ 53 then
    error(redis.error_reply('ERR cloakroom throttle: ARGV[' .. i .. '] must be an integer >= ' .. min))
  end
  return value
end

-- ARGV[i] as a window id (what NOW_ID looks like) or '' for "no window".
local function window_arg(i)
  local value = ARGV[i]
  if value == nil or (value ~= '' and not string.match(value, '^%d+%.%d+$')) then
    error(redis.error_reply('ERR cloakroom throttle: ARGV[' .. i .. '] must be a window id'))
  end
  return value
end

-- The attempts counted in a counter's current window (0 when it has none).
local function counted(key)
  return tonumber(redis.call('HGET', key, 'n')) or 0
end

-- Milliseconds until a counter's window ends (at least 1, so a refusal always says "later").
local function window_left(key, window_ms)
  local left = redis.call('PTTL', key)
  if left < 1 then
    return window_ms
  end
  return left
end

-- Counts one attempt, opening a window if the counter has none; answers the window id.
local function count(key, window_ms)
  if redis.call('EXISTS', key) == 0 then
    redis.call('HSET', key, 'w', NOW_ID)
    redis.call('PEXPIRE', key, int_text(window_ms))
  end
  redis.call('HINCRBY', key, 'n', 1)
  return redis.call('HGET', key, 'w')
end

-- Takes back one attempt, but only from the window it was counted in.
local function refund(key, window)
  if window ~= '' and redis.call('HGET', key, 'w') == window and counted(key) > 0 then
    redis.call('HINCRBY', key, 'n', -1)
  end
end
