-- Appends session events to their stream, in order, in one step.
--
-- KEYS[1]  the events stream
-- ARGV[1]  the stream's length bound (approximate trimming, as XADD MAXLEN ~ does)
-- ARGV[2]  the entry field that holds an event
-- ARGV[3…] one event each (its JSON)
--
-- Returns  the number of entries appended.
-- Registered with the flag allow-oom (session-scripts.ts writes the `#!lua flags=allow-oom`
-- line, as a loader may strip a shebang from a file). A revocation only deletes keys, which
-- Redis allows when it is out of memory under noeviction, but a plain XADD telling the other
-- services would be refused, and they would go on honouring the session (a cache until its
-- ttl, an open socket until its next check). A script with this flag may write then; the
-- stream stays bounded by ARGV[1].
-- Commands: XADD — the owner's ACL allows it on the stream; a validator's refuses it.
local maxLength, field = int_arg(1), name_arg(2)
if #ARGV < 3 then
  error(redis.error_reply('ERR cloakroom: no event to append'))
end
for i = 3, #ARGV do
  redis.call('XADD', KEYS[1], 'MAXLEN', '~', maxLength, '*', field, ARGV[i])
end
return #ARGV - 2
