-- Raises the global revocation's watermark, never lowers it. Two global revocations racing
-- each other may set theirs in either order: a plain SET of the earlier one landing last would
-- move the watermark back, and a service starting (or subscribing again) after it would accept
-- the sessions the later one revoked.
--
-- KEYS[1]  the watermark ("<prefix>not-before"): epoch milliseconds, Redis clock (string)
-- ARGV[1]  the watermark to set, epoch milliseconds
--
-- Returns  the watermark the key holds after the call: ARGV[1], or the greater one it held.
-- A key holding anything but such a number (another type, or a string written by another
-- program) is read as none, as the store reads it, and overwritten.
local proposed = int_arg(1)
local held = redis.pcall('GET', KEYS[1])
held = type(held) == 'string' and tonumber(held) or nil
if held and held >= 0 and held == math.floor(held) and held < 2 ^ 53 and held >= proposed then
  return held
end
redis.call('SET', KEYS[1], string.format('%d', proposed))
return proposed
