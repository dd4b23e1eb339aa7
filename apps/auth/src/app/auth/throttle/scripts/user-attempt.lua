-- Counts one login attempt for a username from one client network, or refuses it. Runs
-- before the password is checked, so parallel guesses cannot all pass a check made before
-- any of them was counted. A refused attempt writes nothing.
--
-- KEYS[1]  counter of this username from this network (see the prelude)
-- KEYS[2]  counter of this username from every network; its field t is the time (ms) of the
--          last attempt counted there
-- KEYS[3]  marker that exists while this network is one the username logged in from recently;
--          it counts only while it holds the current epoch (KEYS[4])
-- KEYS[4]  epoch of the username's remembered networks (see the prelude)
-- KEYS[5]  optional: counter of the device token the attempt presents (its signature checked
--          by the caller); while it holds fewer than ARGV[8] attempts and the token's epoch
--          (ARGV[9]) is the current one, the attempt is exempt from the ceiling like one from a
--          known network, and counted there too
--          (all the keys share the username's hash tag: one Cluster slot)
-- ARGV[1]  limit per username and network (integer >= 1)
-- ARGV[2]  ceiling per username across networks (integer >= 1), past which attempts from
--          networks that are not known wait between each other
-- ARGV[3]  window length in ms (integer >= 1)
-- ARGV[4]  first wait past the ceiling in ms (integer >= 1); it doubles with each attempt
-- ARGV[5]  longest wait in ms (integer >= ARGV[4])
-- ARGV[6]  attempt id (see the prelude), which user-refund.lua takes back
-- ARGV[7]  ms an attempt may be checked for before it counts as failed (integer >= 1)
-- ARGV[8]  with KEYS[5]: attempts a device token may have counted per window (integer >= 1)
-- ARGV[9]  with KEYS[5]: the epoch the device token was issued in
--
-- Returns {1, epoch} when the attempt is counted (the epoch user-refund.lua remembers the
-- network under, after a right password), {0, ms to wait, attempts still being checked} when
-- the counter of this username and network refuses it: with some still being checked, a place
-- may free up in a moment (a right password takes its attempt back), so the caller may try
-- again soon rather than wait; and {0, ms to wait} when the ceiling makes it wait.

local pair_limit = int_arg(1, 1)
local ceiling = int_arg(2, 1)
local window_ms = int_arg(3, 1)
local first_delay = int_arg(4, 1)
local max_delay = int_arg(5, first_delay)
local attempt = attempt_arg(6)
local check_ms = int_arg(7, 1)

if counted(KEYS[1]) >= pair_limit then
  return {0, window_left(KEYS[1], window_ms), in_check(KEYS[1], check_ms)}
end

local epoch = epoch_of(KEYS[4])
-- A device token the user got under an earlier password, or one spent on failures this window
-- (a stolen cookie is no licence to guess), is a stranger's.
local device = false
if KEYS[5] ~= nil then
  local device_limit = int_arg(8, 1)
  device = epoch_arg(9) == epoch and counted(KEYS[5]) < device_limit
end
local total = counted(KEYS[2])
if total >= ceiling and not device and redis.call('GET', KEYS[3]) ~= epoch then
  -- The exponent is capped so that 2 ^ n stays a finite number.
  local delay = math.min(first_delay * 2 ^ math.min(total - ceiling, 52), max_delay)
  local last = tonumber(redis.call('HGET', KEYS[2], 't')) or 0
  local wait = last + delay - NOW_MS
  if wait > 0 then
    -- The ceiling's window ending lifts the wait as well.
    return {0, math.min(wait, window_left(KEYS[2], window_ms))}
  end
end

count(KEYS[1], window_ms, attempt)
count(KEYS[2], window_ms, attempt)
if device then
  count(KEYS[5], window_ms, attempt)
end
redis.call('HSET', KEYS[2], 't', int_text(NOW_MS))
return {1, epoch}
