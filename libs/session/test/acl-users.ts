import type { Redis } from 'ioredis';

import { SessionAclRole, sessionAclRules } from '../src';

const USERS: ReadonlyArray<{ name: string; password: string; role: SessionAclRole }> = [
  { name: 'auth', password: 'auth-secret', role: 'owner' },
  { name: 'orders', password: 'orders-secret', role: 'validator' },
];

/**
 * Creates the session store's two Redis ACL users on one Redis node, for keys under
 * `keyPrefix`: `auth` (password `auth-secret`), the owner, as the auth service connects, and
 * `orders` (password `orders-secret`), a validator, as a domain service connects in direct
 * mode. ACLs are per node: a cluster needs them on every node.
 *
 * @example
 * for (const node of nodes) await addSessionAclUsers(node, 'cr:');
 * const orders = await sessionService({ redis: { url: 'redis://orders:orders-secret@…' } });
 */
export async function addSessionAclUsers(node: Redis, keyPrefix: string): Promise<void> {
  for (const { name, password, role } of USERS) {
    await node.acl('SETUSER', name, 'on', `>${password}`, ...sessionAclRules(role, keyPrefix));
  }
}
