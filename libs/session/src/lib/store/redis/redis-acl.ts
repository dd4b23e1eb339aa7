/**
 * Who a Redis user of the session store is: see {@link sessionAclRules}.
 *
 * @example
 * const role: SessionAclRole = service === 'auth' ? 'owner' : 'validator';
 * await admin.acl('SETUSER', service, 'on', `>${password}`, ...sessionAclRules(role, 'cr:'));
 */
export type SessionAclRole = 'validator' | 'owner';

/**
 * The Redis ACL rules of the session store's users, as `ACL SETUSER <name> on ><password>
 * …rules` arguments (or an aclfile line after `user <name> on ><password>`).
 *
 * - `validator`: a service that only validates sessions (direct mode). It may run scripts by
 *   SHA only (never EVAL, SCRIPT LOAD or FUNCTION LOAD), and only with the commands
 *   validate.lua runs — HGETALL, TIME, PTTL, PEXPIRE — on session hashes; it reads users'
 *   records of changes (which validate.lua answers with the session, for the local cache), the
 *   global-revocation watermark (and listens for it), and the redacted event stream (the full
 *   one names every session's key). Any other script (create, set roles, rotate, revoke
 *   all…) touches a key or a command outside this and is refused (NOPERM) before it writes; so
 *   are a raw HSET on a session, the login-throttle counters, KEYS, SCAN, FLUSHALL and CONFIG.
 *   Redis checks a script's commands against the caller's rules, so the validator may run
 *   those four itself: what a stolen validator password still allows is, for a session whose
 *   id (or token) it has, reading it and setting its hash's TTL — ending it at once, or keeping
 *   its hash in Redis past its deadline (validation still refuses it there).
 * - `owner`: the auth service. Every key and channel under the prefix, every command but the
 *   dangerous ones, plus SCRIPT LOAD (it loads the scripts validators call by SHA) and
 *   CONFIG GET (the start-up eviction-policy check).
 *
 * The rules are the same on every node of a Redis Cluster; ACLs are per node, so set them on
 * each (replicas too).
 *
 * @example
 * await redis.acl('SETUSER', 'orders', 'on', '>secret', ...sessionAclRules('validator', 'cr:'));
 */
export function sessionAclRules(role: SessionAclRole, keyPrefix = 'cr:'): string[] {
  const prefix = escapeGlob(keyPrefix);
  // What every client library needs to connect: ready check, names, cluster topology, and
  // ASKING, with which a Cluster client follows a key to the node a slot is migrating to (without
  // it, ioredis leaves the refused ASKING an unhandled rejection: the process exits).
  const connect = [
    '+ping',
    '+hello',
    '+info',
    '+select',
    '+client|setname',
    '+client|getname',
    '+cluster|slots',
    '+cluster|shards',
    '+cluster|info',
    '+readonly',
    '+asking',
  ];
  if (role === 'validator') {
    return [
      'resetkeys',
      'resetchannels',
      '-@all',
      ...connect,
      '+evalsha',
      '+hgetall',
      '+time',
      '+pttl',
      '+pexpire',
      '+get',
      '+subscribe',
      '+unsubscribe',
      '+xread',
      '+xinfo|stream',
      `~${prefix}{*}:s:*`,
      `%R~${prefix}{*}:c:*`,
      `%R~${prefix}not-before`,
      `%R~${prefix}events:redacted`,
      `&${prefix}not-before`,
    ];
  }
  return [
    'resetkeys',
    'resetchannels',
    '+@all',
    '-@dangerous',
    ...connect,
    '+script|load',
    '+script|exists',
    '+config|get',
    '+wait',
    `~${prefix}*`,
    `&${prefix}*`,
  ];
}

function escapeGlob(text: string): string {
  return text.replace(/[*?[\]\\]/g, (char) => `\\${char}`);
}
