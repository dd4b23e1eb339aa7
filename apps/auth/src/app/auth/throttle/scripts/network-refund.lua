-- Takes back one attempt network-attempt.lua counted: after a correct password, or when the
-- password was never checked (hashing saturated).
--
-- KEYS[1]  counter of the network
-- ARGV[1]  the attempt id network-attempt.lua counted
--
-- Returns 1.

refund(KEYS[1], attempt_arg(1))
return 1
