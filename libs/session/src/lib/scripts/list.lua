-- Lists one user's live sessions without touching them.
--
-- KEYS[1]  the user's index
-- ARGV[1]  key prefix of this user's session hashes ("<prefix>{<tag>}:s:")
--
-- Returns  { digest, { field, value, … } } pairs, oldest first. Members whose hash
--          expired are pruned from the index.
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
local result = {}
for _, member in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  local key = ARGV[1] .. member
  local fields = redis.call('HGETALL', key)
  local alive = #fields > 0
  for i = 1, #fields, 2 do
    if fields[i] == 'x' and tonumber(fields[i + 1]) <= now then
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
