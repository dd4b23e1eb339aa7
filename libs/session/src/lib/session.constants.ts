/** Property of the HTTP request object on which the guard puts the validated session. */
export const REQUEST_SESSION_PROPERTY = 'session';

/** Injection token of the normalised `SessionConfig`. */
export const SESSION_CONFIG = Symbol('cloakroom:session-config');

/** Message patterns of the auth service's session microservice, one per store operation. */
export const SessionRpc = {
  validate: 'session.validate',
  get: 'session.get',
  create: 'session.create',
  patch: 'session.patch',
  destroy: 'session.destroy',
  list: 'session.list',
  destroyAll: 'session.destroyAll',
  setRoles: 'session.setRoles',
  rotate: 'session.rotate',
  userTag: 'session.userTag',
} as const;

/**
 * Events the auth service emits (Redis pub/sub transport) when sessions change.
 * Payloads: `session.revoked` `{ ids: string[] }`; `user.sessions.revoked`
 * `{ userId: string, exceptId?: string }`; `user.roles.changed` `{ userId: string, roles: string[] }`.
 */
export const SessionEvents = {
  revoked: 'session.revoked',
  userSessionsRevoked: 'user.sessions.revoked',
  userRolesChanged: 'user.roles.changed',
} as const;

export const DEFAULT_COOKIE_NAME = 'cr_session';
