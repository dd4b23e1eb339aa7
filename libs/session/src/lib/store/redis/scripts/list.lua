-- Lists one user's live sessions without touching them.
--
-- KEYS[1]  the user's index
-- ARGV[1]  key prefix of this user's session hashes ("<prefix>{<tag>}:s:")
--
-- Returns  { digest, { field, value, … } } pairs, oldest first. Members whose hash
--          expired are pruned from the index.
-- Session keys are built from ARGV[1] and the index members: see README.md.
local prefix = name_arg(1)
local now = now_ms()
local result = {}
for _, member in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  local key = prefix .. member
  local fields = redis.call('HGETALL', key)
  local alive = #fields > 0
  for i = 1, #fields, 2 do
    if fields[i] == FIELD.absoluteExpiresAt and tonumber(fields[i + 1]) <= now then
      alive = false
      redis.call('DEL', key)
    end
  end
  if alive then
    result[#result + 1] = member
    result[#result + 1] = fields
  else
    redis.call('ZREM', KEYS[1], member)
  end
end
return result
