-- Takes back one attempt network-attempt.lua counted: after a correct password, or when the
-- password was never checked (hashing saturated).
--
-- KEYS[1]  counter of the network
-- ARGV[1]  window id network-attempt.lua answered
--
-- Returns 1.

refund(KEYS[1], window_arg(1))
return 1
