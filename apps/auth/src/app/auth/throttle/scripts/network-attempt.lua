-- Counts one login attempt from a client network, whatever the username (password
-- spraying), or refuses it; a refused attempt writes nothing.
--
-- KEYS[1]  counter of the network (see the prelude)
-- ARGV[1]  limit per network (integer >= 1)
-- ARGV[2]  window length in ms (integer >= 1)
--
-- Returns {1, window id} when the attempt is counted, {0, ms to wait} when it is refused.

local limit = int_arg(1, 1)
local window_ms = int_arg(2, 1)

if counted(KEYS[1]) >= limit then
  return {0, window_left(KEYS[1], window_ms)}
end
return {1, count(KEYS[1], window_ms)}
