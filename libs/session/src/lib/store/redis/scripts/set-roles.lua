-- Writes new roles into every live session of one user; their next request sees them. Moves
-- the user's revocation generation, so a login that read the old roles cannot create a
-- session with them after this.
--
-- KEYS[1]  the user's index
-- KEYS[2]  the user's revocation generation
-- KEYS[3]  the tag's migration fence ("<prefix>{<tag>}:f"), a key that never exists
-- ARGV[1]  key prefix of this user's session hashes ("<prefix>{<tag>}:s:")
-- ARGV[2]  the roles, a JSON array of strings
-- ARGV[3]  the caller's deadline, epoch ms by Redis's clock, or 0 for none: a call that reaches
--          Redis after it (a partition healed, a hung Redis woke up) changes nothing. Its caller
--          has given up by then and answered that nothing changed, and may have undone what
--          the change stood for (the roles in its database): making it now would grant roles
--          nobody holds, which nothing would ever take back.
-- ARGV[4]  optional: the user's record of changes ("<prefix>{<tag>}:c:<userId>")
-- ARGV[5]  optional: this change's id, recorded there (see user-changes.lua); '' for none
--
-- Returns  { updated, { expiredDigest… } }: how many live sessions were updated, and the
--          members pruned on the way because their session expired (or its key held another
--          type than a hash, written by another program: deleted, as list.lua does); an error
--          after the deadline.
-- Session keys are built from ARGV[1] and the index members: see README.md.
-- Registered with the flag allow-oom (see README.md): a role change is often a revocation (an
-- administrator's role taken away), which must not fail while Redis is out of memory. Each
-- HSET replaces one field of a hash that exists; the INCR adds one counter at most.
local prefix = name_arg(1)
local deadline = int_arg(3)
local changesKey, change = ARGV[4] or '', change_arg(5)
-- The fence never exists: declared, it makes Redis Cluster refuse this script (TRYAGAIN) while
-- the slot migrates, when the keys built below may be on the other node. See README.md.
if redis.call('EXISTS', KEYS[3]) == 1 then
  return redis.error_reply('ERR cloakroom: the fence key must not exist')
end
if deadline > 0 and now_ms() > deadline then
  return redis.error_reply('ERR cloakroom: arrived after its deadline, changed nothing')
end
-- cjson decodes an object to a table too ('{}' and '[]' alike): only a text that opens as an
-- array, whose every key is one of its positions, is an array. An object stored as roles would
-- be read back as no array at all by every service.
local ok, roles = pcall(cjson.decode, ARGV[2] or '')
if not ok or type(roles) ~= 'table' or string.sub(ARGV[2], 1, 1) ~= '[' then
  return redis.error_reply('ERR cloakroom: roles must be a JSON array')
end
local keys = 0
for _ in pairs(roles) do
  keys = keys + 1
end
if keys ~= #roles then
  return redis.error_reply('ERR cloakroom: roles must be a JSON array')
end
for _, role in ipairs(roles) do
  if type(role) ~= 'string' then
    return redis.error_reply('ERR cloakroom: roles must be strings')
  end
end
local members = redis.call('ZRANGE', KEYS[1], 0, -1)
-- The generation moves before any session is written. A key there that INCR cannot move
-- (another type, or a string that is no integer, written by another program) must not fail
-- the script half-way, its answer a 503 ("nothing changed") over sessions already changed: it
-- is replaced by Redis's clock in microseconds, a value no login can have read, so that a
-- login under way is refused all the same.
local moved = redis.pcall('INCR', KEYS[2])
if type(moved) == 'table' and moved.err then
  redis.call('DEL', KEYS[2])
  redis.call('SET', KEYS[2], string.format('%d', now_us()))
end
record_change(changesKey, change)
local updated, expired = 0, {}
for _, member in ipairs(members) do
  local key = prefix .. member
  local kind = redis.call('TYPE', key).ok
  if kind == 'hash' then
    redis.call('HSET', key, FIELD.roles, ARGV[2])
    updated = updated + 1
  else
    if kind ~= 'none' then
      redis.call('DEL', key)
    end
    redis.call('ZREM', KEYS[1], member)
    expired[#expired + 1] = member
  end
end
return { updated, expired }
