-- Marks a counted attempt as failed: its password was checked and was wrong. It stays counted
-- until its window ends; attempts refused meanwhile no longer wait for it (see in_check).
--
-- KEYS[1]  a counter user-attempt.lua (its first key) or network-attempt.lua counted it in
-- ARGV[1]  the attempt id
--
-- Returns 1 when the attempt was marked, 0 when the counter no longer holds it (its window
-- ended, or a right password forgave the counter).

local attempt = attempt_arg(1)
local marker = 'a:' .. attempt
if redis.call('HEXISTS', KEYS[1], marker) == 0 then
  return 0
end
redis.call('HSET', KEYS[1], marker, 'f')
return 1
