-- Takes back what user-attempt.lua counted. After a correct password (ARGV[3] > 0) it also
-- forgives the username's other failures from this network and remembers the network as
-- known for a while: attempts from it are then exempt from the ceiling, so a stranger
-- guessing from elsewhere cannot lock the owner out. Without one (ARGV[3] = 0: another
-- counter refused the attempt, or the password was never checked) it only takes the
-- attempt back.
--
-- KEYS[1]  counter of this username from this network
-- KEYS[2]  counter of this username from every network
-- KEYS[3]  known-network marker of this username and network
-- KEYS[4]  epoch of the username's remembered networks (same hash tag as KEYS[1..3])
-- KEYS[5]  optional: counter of the device token the attempt presented (same hash tag); a
--          right password forgives its failures, anything else takes the attempt back
-- ARGV[1]  the attempt id user-attempt.lua counted
-- ARGV[2]  ms to remember the network as known (integer >= 0; 0: not a success)
-- ARGV[3]  with ARGV[2] > 0: the epoch user-attempt.lua answered. A password change that moved
--          it since (the password checked was the old one) leaves the network a stranger.
--
-- Returns 1.

local attempt = attempt_arg(1)
local remember_ms = int_arg(2, 0)

refund(KEYS[2], attempt)
if remember_ms > 0 then
  redis.call('DEL', KEYS[1])
  if KEYS[5] ~= nil then
    redis.call('DEL', KEYS[5])
  end
  local epoch = epoch_arg(3)
  if epoch == epoch_of(KEYS[4]) then
    redis.call('SET', KEYS[3], epoch, 'PX', int_text(remember_ms))
    -- The epoch outlives every marker that holds it.
    if redis.call('PTTL', KEYS[4]) > 0 and redis.call('PTTL', KEYS[4]) < remember_ms then
      redis.call('PEXPIRE', KEYS[4], int_text(remember_ms))
    end
  end
else
  refund(KEYS[1], attempt)
  if KEYS[5] ~= nil then
    refund(KEYS[5], attempt)
  end
end
return 1
