export { SessionModule } from './lib/session.module';
export { SessionService } from './lib/session.service';
export {
  REQUEST_SESSION_PROPERTY,
  REQUEST_TOKEN_PROPERTY,
  SessionEvents,
  SESSION_ASSERTION_FIELD,
  SESSION_METRICS,
  SessionRpc,
  SessionSocketClose,
} from './lib/session.constants';
export {
  type IssuedSession,
  type Session,
  type SessionMeta,
  type SessionUser,
} from './lib/session.types';
export {
  type SessionCapPolicy,
  type SessionCommonOptions,
  type SessionCookieOptions,
  type SessionDurabilityOptions,
  type SessionEventsOptions,
  type SessionLocalCacheOptions,
  type SessionModuleOptions,
  type SessionRedisConnection,
  type SessionRemoteConnection,
  type SessionRemoteTls,
  type SessionAssertionKey,
  type SessionAssertionOptions,
  type SessionRememberOptions,
  type SessionSocketsOptions,
} from './lib/config/session-options.interface';

export { SessionGuard, type RouteRule, type SocketRefusal } from './lib/http/session.guard';
export { Roles } from './lib/http/roles.decorator';
export { type RecentAuthRule, RequireRecentAuth } from './lib/http/require-recent-auth.decorator';
export { ReauthenticationRequiredException } from './lib/http/reauthentication-required.exception';
export { Public, IS_PUBLIC_KEY } from './lib/http/public.decorator';
export { CurrentSession, CurrentUser } from './lib/http/current-session.decorator';
export { SessionCookieService } from './lib/http/session-cookie.service';
export { OriginPolicy, type OriginCheckedRequest } from './lib/http/origin.policy';
export {
  readSessionToken,
  readSessionTokens,
  type RequestToken,
  type TokenHeaders,
  type TokenSource,
} from './lib/http/request-token.reader';
export { type SessionRequest } from './lib/http/session-request.interface';
export { type SessionHandshakeRefusal, SessionSockets } from './lib/ws/session-sockets.service';
export { type SessionSocket } from './lib/ws/session-socket.interface';
export { SESSION_ENDED_EVENT } from './lib/ws/event-stream.socket';
export { SessionAssertions } from './lib/assertion/session-assertions.service';
export { MAX_ASSERTION_TTL_SECONDS } from './lib/assertion/session-assertion.settings';
export { SessionClient, type SessionMessageProxy } from './lib/assertion/session-client';
export {
  type SessionGuardOutcome,
  type SessionMetrics,
} from './lib/metrics/session-metrics.interface';

export {
  type CreatedSession,
  type NewSessionRecord,
  type SessionRotation,
  SessionStore,
} from './lib/store/session-store.interface';
export { parseSessionId, type SessionRef } from './lib/token/session.token';
export { RedisSessionStore } from './lib/store/redis/redis-session.store';
export { type SessionAclRole, sessionAclRules } from './lib/store/redis/redis-acl';
export {
  InMemorySessionStore,
  type InMemorySessionStoreOptions,
} from './lib/store/in-memory/in-memory-session.store';

export {
  type SessionEvent,
  type SessionEventActor,
  type SessionEventCause,
  sessionEventRef,
  type SessionEventType,
  type SessionRevocationReason,
} from './lib/events/session-event.interface';
export {
  type SessionEventsGapReason,
  type SessionEventsItem,
  SessionEventsReader,
  type SessionEventsReaderOptions,
} from './lib/events/session-events.reader';
export { SessionStoreUnavailableError } from './lib/errors/session-store-unavailable.error';
export { SessionUserChangedError } from './lib/errors/session-user-changed.error';
export { SessionLimitReachedError } from './lib/errors/session-limit-reached.error';
export { SessionStoreMisconfiguredError } from './lib/errors/session-store-misconfigured.error';
export { SessionOperationNotServedError } from './lib/errors/session-operation-not-served.error';
export { SessionAttributeNameError } from './lib/errors/session-attribute-name.error';
export { SessionAttributesTooLargeError } from './lib/errors/session-attributes-too-large.error';
export { SESSION_ATTRIBUTE_LIMITS } from './lib/store/attribute-names';
export {
  type SessionAssertionRefusal,
  SessionAssertionRefusedError,
} from './lib/errors/session-assertion-refused.error';
