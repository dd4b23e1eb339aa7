-- Shared by the scripts that change a user's sessions as a whole (revoke-all.lua,
-- set-roles.lua, rotate.lua when it revokes the others): registered after the prelude, which
-- stays as it is (see README.md, "Changes of a user"). Defines a helper only: it runs no command.

-- How many change ids a user's record keeps, and for how long after the last one.
local USER_CHANGES_KEPT, USER_CHANGES_MS = 8, 3600000

-- ARGV[i] as a change id: '' (none) or at most 32 base64url characters; anything else aborts
-- the script before it writes.
local function change_arg(i)
  local value = ARGV[i] or ''
  if #value > 32 or string.find(value, '[^%w_-]') then
    error(redis.error_reply('ERR cloakroom: ARGV[' .. i .. '] must be a change id'))
  end
  return value
end

-- Appends the id `change` to the user's record of changes at `key` (a string of ids separated
-- by spaces, the newest last), keeping the last USER_CHANGES_KEPT for USER_CHANGES_MS. An
-- empty id or key records nothing (a caller that names no change). validate.lua answers the
-- record with the session: a local cache told of the change by its event holds the user's
-- sessions until it reads them with the id, that is once the change has landed. A key holding
-- another type (written by another program) is replaced.
local function record_change(key, change)
  if change == '' or key == '' then
    return
  end
  local previous = redis.pcall('GET', key)
  local ids = {}
  if type(previous) == 'string' then
    for id in string.gmatch(previous, '[^ ]+') do
      ids[#ids + 1] = id
    end
  end
  ids[#ids + 1] = change
  local from = math.max(1, #ids - USER_CHANGES_KEPT + 1)
  redis.call('DEL', key)
  redis.call('SET', key, table.concat(ids, ' ', from), 'PX', USER_CHANGES_MS)
end
