import type { Session } from '@cloakroom/session';
import type { SessionRpcCapabilities } from '@cloakroom/session/rpc';

/** What every validating service needs: who the user is, their roles, the session's times. */
const IDENTITY: (keyof Session)[] = [
  'id',
  'userId',
  'username',
  'roles',
  'createdAt',
  'lastSeenAt',
  'expiresAt',
  'absoluteExpiresAt',
];

/**
 * Who may call the session RPC, by the common name of their client certificate, and what for.
 * No service gets the client's address or user agent: they are auth's business (the session
 * list). Creating, rotating, listing and revoking sessions, and roles, are never served.
 *
 * @example
 * SessionRpcModule.register({ capabilities: SESSION_RPC_CAPABILITIES });
 */
export const SESSION_RPC_CAPABILITIES: SessionRpcCapabilities = {
  // Public reads, admin writes: it needs the roles, nothing it could write. `get` by id: it
  // checks the session of every session assertion orders sends it (price quotes).
  catalog: { calls: ['validate', 'get'], fields: IDENTITY },
  // Runs in direct (Redis) mode today, where its Redis user writes no attribute; in remote mode
  // it would keep its cart in the session, under names of its own: it writes no other service's.
  orders: {
    calls: ['validate', 'patch'],
    fields: [...IDENTITY, 'attributes'],
    patchable: ['orders.*'],
  },
};
