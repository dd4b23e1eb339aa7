-- Takes back what user-attempt.lua counted. After a correct password (ARGV[3] > 0) it also
-- forgives the username's other failures from this network and remembers the network as
-- known for a while: attempts from it are then exempt from the ceiling, so a stranger
-- guessing from elsewhere cannot lock the owner out. Without one (ARGV[3] = 0: another
-- counter refused the attempt, or the password was never checked) it only takes the
-- attempt back.
--
-- KEYS[1]  counter of this username from this network
-- KEYS[2]  counter of this username from every network
-- KEYS[3]  known-network marker of this username and network (same hash tag as KEYS[1..2])
-- ARGV[1]  the attempt id user-attempt.lua counted
-- ARGV[2]  ms to remember the network as known (integer >= 0; 0: not a success)
--
-- Returns 1.

local attempt = attempt_arg(1)
local remember_ms = int_arg(2, 0)

refund(KEYS[2], attempt)
if remember_ms > 0 then
  redis.call('DEL', KEYS[1])
  redis.call('SET', KEYS[3], '1', 'PX', int_text(remember_ms))
else
  refund(KEYS[1], attempt)
end
return 1
