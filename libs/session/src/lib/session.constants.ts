// Every injection token of the library but one: `SessionStore` lives beside its interface
// (store/session-store.interface.ts), since an interface and a constant can share a name only
// when they are declared in the same file.

/** Injection token of the options given to `SessionModule.forRoot()`. */
export const SESSION_MODULE_OPTIONS = Symbol('cloakroom:session-module-options');

/** Injection token of the resolved `SessionConfig`. */
export const SESSION_CONFIG = Symbol('cloakroom:session-config');

/**
 * Injection token of the `SessionMetrics` the options gave; null when they gave none.
 *
 * @example
 * constructor(@Inject(SESSION_METRICS) private readonly metrics: SessionMetrics | null) {}
 */
export const SESSION_METRICS = Symbol('cloakroom:session-metrics');

/** Injection token of the local cache; its value is null when `localCache` is off. */
export const SESSION_CACHE = Symbol('cloakroom:session-cache');

/**
 * Injection token of the `SessionEventsPublisher`; null when events are off or the backend has
 * no Redis (`remote`, an in-memory store).
 */
export const SESSION_EVENTS = Symbol('cloakroom:session-events');

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
 * Message patterns of the auth service's session RPC: all it serves. Creating, rotating,
 * listing and revoking sessions, and changing roles, are never served on the network.
 *
 * @example
 * client.send(SessionRpc.validate, { token });
 */
export const SessionRpc = {
  /** `{ token }`: the live session, its idle timeout slid, with the fields the caller may see. */
  validate: 'session.validate',
  /**
   * `{ tokens }` (at most 16): one answer per token, in their order, as `validate` answers it.
   * Served to whoever may call `validate`.
   */
  validateMany: 'session.validate-many',
  /** `{ token, attributes, remove }`: writes app attributes of the session the token names. */
  patch: 'session.patch',
  /**
   * `{ id }`: the live session with that id, untouched (no idle slide), with the fields the
   * caller may see: what a receiver of a session assertion checks it against.
   */
  get: 'session.get',
  /** `{}`: true while auth's store answers. */
  ping: 'session.ping',
} as const;

/**
 * The payload property that carries a session assertion in a microservice message
 * (`SessionClient` adds it; `SessionGuard` reads and removes it).
 *
 * @example
 * proxy.send('catalog.prices', { skus, [SESSION_ASSERTION_FIELD]: assertions.sign(session, 'catalog') });
 */
export const SESSION_ASSERTION_FIELD = '$session';

/** Injection token of the `SessionRpcOptions` (the capability table) `SessionRpcModule` serves. */
export const SESSION_RPC_OPTIONS = Symbol('cloakroom:session-rpc-options');

/**
 * Types of the session lifecycle events that `SessionService` appends to the
 * `<keyPrefix>events` Redis stream (shared/DESIGN.md §3.2); read them with
 * `SessionEventsReader`. `session.patched` is the exception: it goes to the redacted stream only.
 *
 * @example
 * if (event.type === SessionEvents.revoked) cache.evict([event.sessionId]);
 */
export const SessionEvents = {
  created: 'session.created',
  rotated: 'session.rotated',
  revoked: 'session.revoked',
  /** The per-user cap ended the session to make room for a new one (actor null, reason `cap`). */
  evicted: 'session.evicted',
  expired: 'session.expired',
  rolesChanged: 'roles.changed',
  revokedAll: 'sessions.revoked-all',
  /**
   * A session's app attributes were patched (`SessionService.patch`), or perhaps were (the
   * write's outcome is unknown): caches forget the session. Not a security event, so it goes
   * to the redacted stream only (`<keyPrefix>events:redacted`) and never reaches the activity
   * log; `userId` is null (a patch does not read whose session it is).
   */
  patched: 'session.patched',
} as const;

/**
 * Close codes `SessionSockets` and `SessionGuard` end a WebSocket with: `unauthenticated`
 * (4401: no session at the handshake, a cookie handshake from a foreign origin, or the session
 * was revoked, expired or rotated), `forbidden` (4403: the session lost every role a GraphQL
 * subscription on the connection needs), `storeUnavailable` (1013 "try again later": the
 * session store did not answer the handshake's validation) and `tooMany` (1008: the user already
 * holds `sockets.maxPerUser` sockets in the service).
 *
 * @example
 * socket.onclose = (event) => { if (event.code === SessionSocketClose.unauthenticated) login(); };
 */
export const SessionSocketClose = {
  unauthenticated: 4401,
  forbidden: 4403,
  storeUnavailable: 1013,
  /** The user already holds `sockets.maxPerUser` open sockets in this service. */
  tooMany: 1008,
} as const;

export const DEFAULT_COOKIE_NAME = 'cr_session';
