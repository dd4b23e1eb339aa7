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
-- ARGV[1]  window id user-attempt.lua answered for KEYS[1]
-- ARGV[2]  window id user-attempt.lua answered for KEYS[2]
-- ARGV[3]  ms to remember the network as known (integer >= 0; 0: not a success)
--
-- Returns 1.

local pair_window = window_arg(1)
local user_window = window_arg(2)
local remember_ms = int_arg(3, 0)

refund(KEYS[2], user_window)
if remember_ms > 0 then
  redis.call('DEL', KEYS[1])
  redis.call('SET', KEYS[3], '1', 'PX', int_text(remember_ms))
else
  refund(KEYS[1], pair_window)
end
return 1
