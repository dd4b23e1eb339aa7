// Every injection token of the library but one: `SessionStore` lives beside its interface
// (store/session-store.interface.ts), since an interface and a constant can share a name only
// when they are declared in the same file.

/** Injection token of the options given to `SessionModule.forRoot()`. */
export const SESSION_MODULE_OPTIONS = Symbol('cloakroom:session-module-options');

/** Injection token of the resolved `SessionConfig`. */
export const SESSION_CONFIG = Symbol('cloakroom:session-config');

/** Injection token of the local cache; its value is null when `localCache` is off. */
export const SESSION_CACHE = Symbol('cloakroom:session-cache');

/**
 * Property of the HTTP request on which `SessionGuard` puts the validated session
 * (what `@CurrentSession()` reads).
 *
 * @example
 * const session = (request as SessionRequest)[REQUEST_SESSION_PROPERTY];
 */
export const REQUEST_SESSION_PROPERTY = 'session';

/**
 * Property of the HTTP request on which `SessionGuard` puts the token it validated and where
 * it came from (a `RequestToken`), so an app never reads the token again.
 *
 * @example
 * const presented = (request as SessionRequest)[REQUEST_TOKEN_PROPERTY];
 */
export const REQUEST_TOKEN_PROPERTY = 'sessionToken';

/**
 * Message patterns of the auth service's session microservice, one per store operation.
 *
 * @example
 * client.send(SessionRpc.validate, { id: session.id });
 */
export const SessionRpc = {
  validate: 'session.validate',
  get: 'session.get',
  create: 'session.create',
  patch: 'session.patch',
  revoke: 'session.revoke',
  list: 'session.list',
  revokeAll: 'session.revokeAll',
  setRoles: 'session.setRoles',
  rotate: 'session.rotate',
  generation: 'session.generation',
  ping: 'session.ping',
} as const;

/**
 * Events the auth service emits (Redis pub/sub transport) when sessions change.
 * Payloads: `session.revoked` `{ ids: string[] }`; `user.sessions.revoked`
 * `{ userId: string, exceptId?: string }`; `user.roles.changed` `{ userId: string, roles: string[] }`.
 *
 * @example
 * events.emit(SessionEvents.revoked, { ids: [session.id] });
 */
export const SessionEvents = {
  revoked: 'session.revoked',
  userSessionsRevoked: 'user.sessions.revoked',
  userRolesChanged: 'user.roles.changed',
} as const;

export const DEFAULT_COOKIE_NAME = 'cr_session';
