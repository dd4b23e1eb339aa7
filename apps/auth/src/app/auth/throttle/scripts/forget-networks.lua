-- Forgets the networks a username logged in from, but one: after a password change, a network
-- remembered under the old password (whoever knew it may have logged in from many) is a
-- stranger again, held back by the ceiling like any other. The epoch moves, so every marker
-- holding an earlier one stops counting, and the network of the change is remembered under
-- the new epoch.
--
-- KEYS[1]  epoch of the username's remembered networks
-- KEYS[2]  known-network marker of the network to keep (same hash tag as KEYS[1])
-- ARGV[1]  the new epoch (8 to 32 characters of base64url)
-- ARGV[2]  ms to remember the kept network (integer >= 1)
--
-- Returns 1.

local epoch = attempt_arg(1)
local remember_ms = int_arg(2, 1)

-- The epoch lives at least as long as any marker that may hold an earlier one: were it to go
-- first, markers holding '1' (the epoch before any change) would count again.
local ttl = math.max(remember_ms, redis.call('PTTL', KEYS[1]))
redis.call('SET', KEYS[1], epoch, 'PX', int_text(ttl))
redis.call('SET', KEYS[2], epoch, 'PX', int_text(remember_ms))
return 1
