import { Logger } from '@nestjs/common';
import { Cluster, Redis } from 'ioredis';

import { SessionStoreMisconfiguredError } from '../../errors/session-store-misconfigured.error';

/**
 * Policies under which Redis may evict a key that has no TTL: the user's tag and revocation
 * generation carry none, and an index can outlive the sessions it names. Losing one hides live
 * sessions from revocation, so the store refuses to start on them. `noeviction` and the
 * `volatile-*` policies never evict a key without a TTL.
 */
const UNSAFE = /^allkeys-/;

const logger = new Logger('SessionStore');

/**
 * Throws `SessionStoreMisconfiguredError` when a node's `maxmemory-policy` may evict the
 * store's keys. A Redis user not allowed `CONFIG GET` gets one warning, not a refusal: the
 * policy is then the operator's to check (see the README).
 */
export async function assertSafeEvictionPolicy(client: Redis | Cluster): Promise<void> {
  const nodes = client instanceof Cluster ? client.nodes('master') : [client];
  for (const node of nodes) {
    let policy: string | undefined;
    try {
      const reply = (await node.config('GET', 'maxmemory-policy')) as string[];
      policy = reply[1];
    } catch (error) {
      logger.warn(
        `Cannot read maxmemory-policy (${(error as Error).message}); make sure it is ` +
          'noeviction or volatile-*: an allkeys-* policy can evict the keys that index sessions',
      );
      return;
    }
    if (policy && UNSAFE.test(policy)) {
      const { host, port } = node.options;
      throw new SessionStoreMisconfiguredError(
        `Redis at ${host}:${port} has maxmemory-policy ${policy}, which can evict the keys ` +
          'that index sessions and let a revoked session live on; set it to noeviction or ' +
          'volatile-lru (CONFIG SET maxmemory-policy noeviction)',
      );
    }
  }
}
