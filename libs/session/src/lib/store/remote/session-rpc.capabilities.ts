import type { Session } from '../../session.types';

/**
 * What a caller of the session RPC may ask for, besides `ping` (any known caller may). `get`
 * reads a session by its id, which is not a secret: grant it only to a service that accepts
 * session assertions (it checks each one's session against it).
 */
export type SessionRpcCall = 'validate' | 'patch' | 'get';

/** What one service may do through the session RPC. */
export interface SessionRpcCapability {
  /** The calls it may make. */
  calls: readonly SessionRpcCall[];
  /**
   * The session fields `validate` gives it; the others are left out (`attributes` is empty
   * unless granted). `SessionGuard` needs `id`, `userId`, `username`, `roles`;
   * `authenticatedAt` (which `@RequireRecentAuth()` checks) and `persistent` are always given:
   * facts about the login, no client detail. `device`, like `ip` and `userAgent`, only when
   * listed.
   */
  fields: readonly (keyof Session)[];
  /**
   * The app attribute names `patch` may set or remove: a name, or a namespace as a prefix that
   * ends in `*` (`'orders.*'`). A patch that names any other is refused whole. Left out, `patch`
   * may write every name, those other services read included: list the caller's own (a service
   * in direct mode, with the `validator` Redis user, writes none).
   */
  patchable?: readonly string[];
}

/**
 * The capability table of the session RPC: by service identity (the common name of the
 * service's client certificate, signed by the deployment's CA), what it may call and see.
 * A caller not in the table is refused everything.
 *
 * @example
 * const capabilities: SessionRpcCapabilities = {
 *   catalog: { calls: ['validate'], fields: ['id', 'userId', 'username', 'roles', 'expiresAt'] },
 *   orders: { calls: ['validate', 'patch'], fields: ['id', 'userId'], patchable: ['orders.*'] },
 * };
 */
export type SessionRpcCapabilities = Readonly<Record<string, SessionRpcCapability>>;

/** What `SessionRpcModule` serves. */
export interface SessionRpcOptions {
  capabilities: SessionRpcCapabilities;
}

/**
 * Given to every caller: the guard cannot enforce `@RequireRecentAuth()` without
 * `authenticatedAt`, and `persistent` keeps the `Session` shape whole.
 */
const ALWAYS_SHOWN: readonly (keyof Session)[] = ['authenticatedAt', 'persistent'];

/** The session as a caller with `fields` may see it. */
export function sessionFields(session: Session, fields: readonly (keyof Session)[]): Session {
  const shown: Record<string, unknown> = { attributes: {} };
  for (const field of ALWAYS_SHOWN) {
    if (session[field] !== undefined) shown[field] = session[field];
  }
  for (const field of fields) {
    if (session[field] !== undefined) shown[field] = session[field];
  }
  return shown as unknown as Session;
}

/** Whether a caller with `capability` may set or remove the app attribute `name` by `patch`. */
export function mayPatch(capability: SessionRpcCapability, name: string): boolean {
  const { patchable } = capability;
  return (
    !patchable ||
    patchable.some((entry) =>
      entry.endsWith('*') ? name.startsWith(entry.slice(0, -1)) : name === entry,
    )
  );
}
