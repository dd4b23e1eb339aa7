-- Prelude: prepended to every login-throttle script (see ../throttle-scripts.ts). Defines
-- helpers only: it runs no command but TIME.
--
-- A counter is a hash { n = attempts counted, a:<attempt id> = marker for each of them } that
-- expires at the end of its window. The marker lets a refund take back exactly its own
-- attempt: one whose window ended (the key expired or was reopened) finds no marker and lowers
-- nothing, and one sent after an attempt whose caller gave up (a timeout while Redis stalled:
-- the attempt still runs when Redis resumes, then its refund) takes it back. A marker holds
-- the time (ms) its attempt was counted while its password is being checked, and `f` once the
-- check failed (fail.lua): a counter full of attempts still being checked is not yet a counter
-- full of failures (see in_check).

-- The Redis server's clock: every auth instance agrees on it.
local clock = redis.call('TIME')
local NOW_MS = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)

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

-- ARGV[i] as an attempt id: 8 to 32 characters of base64url.
local function attempt_arg(i)
  local value = ARGV[i]
  if value == nil or #value < 8 or #value > 32 or not string.match(value, '^[%w_-]+$') then
    error(redis.error_reply('ERR cloakroom throttle: ARGV[' .. i .. '] must be an attempt id'))
  end
  return value
end

-- ARGV[i] as the epoch of a username's remembered networks: '1' or an attempt id's form.
local function epoch_arg(i)
  local value = ARGV[i]
  if value == nil or #value < 1 or #value > 32 or not string.match(value, '^[%w_-]+$') then
    error(redis.error_reply('ERR cloakroom throttle: ARGV[' .. i .. '] must be an epoch'))
  end
  return value
end

-- The epoch of a username's remembered networks: a marker counts only while it holds the
-- current one. A password change moves it (forget-networks.lua), so every network remembered
-- before is a stranger again. With no epoch key, '1': what every marker held before epochs.
local function epoch_of(key)
  return redis.call('GET', key) or '1'
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

-- Counts one attempt, opening a window if the counter has none, and marks it as counted and
-- being checked since now.
local function count(key, window_ms, attempt)
  local opens = redis.call('EXISTS', key) == 0
  redis.call('HINCRBY', key, 'n', 1)
  redis.call('HSET', key, 'a:' .. attempt, int_text(NOW_MS))
  if opens then
    redis.call('PEXPIRE', key, int_text(window_ms))
  end
end

-- Takes back one attempt, if it was counted in this counter's current window. A counter left
-- with nothing counted goes at once rather than at the end of its window: each attempt refused
-- by another counter (a sprayer's made-up usernames from a network over its limit) would
-- otherwise leave its own counters behind, one per name, for the whole window. With nothing
-- counted it holds no marker, and its last attempt's time ('t') matters only at the ceiling;
-- the next attempt opens a new window.
local function refund(key, attempt)
  if redis.call('HDEL', key, 'a:' .. attempt) == 1 and counted(key) > 0 then
    if redis.call('HINCRBY', key, 'n', -1) == 0 then
      redis.call('DEL', key)
    end
  end
end

-- How many of a counter's attempts are still being checked: markers holding the time they were
-- counted, less than check_ms ago. An older one was left by an auth instance that stopped
-- during its check (or by a release whose markers held 1), and counts as a failure.
local function in_check(key, check_ms)
  local fields = redis.call('HGETALL', key)
  local checking = 0
  for i = 1, #fields, 2 do
    if string.sub(fields[i], 1, 2) == 'a:' then
      local since = tonumber(fields[i + 1])
      if since and NOW_MS - since < check_ms then
        checking = checking + 1
      end
    end
  end
  return checking
end
