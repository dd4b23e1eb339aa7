-- Counts one login attempt from a client network, whatever the username (password
-- spraying), or refuses it; a refused attempt writes nothing. Also counts an IPv6 client's
-- site (/48) across its networks, with the site's limit.
--
-- KEYS[1]  counter of the network, or of the site (see the prelude)
-- ARGV[1]  limit per network, or per site (integer >= 1)
-- ARGV[2]  window length in ms (integer >= 1)
-- ARGV[3]  attempt id (see the prelude), which network-refund.lua takes back
-- ARGV[4]  ms an attempt may be checked for before it counts as failed (integer >= 1)
--
-- Returns {1} when the attempt is counted, {0, ms to wait, attempts still being checked} when
-- it is refused (see user-attempt.lua).

local limit = int_arg(1, 1)
local window_ms = int_arg(2, 1)
local attempt = attempt_arg(3)
local check_ms = int_arg(4, 1)

if counted(KEYS[1]) >= limit then
  return {0, window_left(KEYS[1], window_ms), in_check(KEYS[1], check_ms)}
end
count(KEYS[1], window_ms, attempt)
return {1}
