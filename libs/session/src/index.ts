export { SessionModule } from './lib/session.module';
export { SessionService } from './lib/session.service';
export {
  REQUEST_SESSION_PROPERTY,
  REQUEST_TOKEN_PROPERTY,
  SessionEvents,
  SessionRpc,
} from './lib/session.constants';
export { IssuedSession, Session, SessionMeta, SessionUser } from './lib/session.types';
export {
  SessionCommonOptions,
  SessionCookieOptions,
  SessionLocalCacheOptions,
  SessionModuleOptions,
  SessionRedisConnection,
  SessionRemoteConnection,
} from './lib/config/session-options.interface';

export { SessionGuard, RouteRule } from './lib/http/session.guard';
export { Roles } from './lib/http/roles.decorator';
export { Public, IS_PUBLIC_KEY } from './lib/http/public.decorator';
export { CurrentSession, CurrentUser } from './lib/http/current-session.decorator';
export { SessionCookieService } from './lib/http/session-cookie.service';
export { OriginPolicy, OriginCheckedRequest } from './lib/http/origin.policy';
export {
  readSessionTokens,
  RequestToken,
  TokenHeaders,
  TokenSource,
} from './lib/http/request-token.reader';
export { SessionRequest } from './lib/http/session-request.interface';

export {
  CreatedSession,
  NewSessionRecord,
  SessionStore,
} from './lib/store/session-store.interface';
export { SessionRef } from './lib/token/session.token';
export { RedisSessionStore } from './lib/store/redis/redis-session.store';
export { RemoteSessionStore } from './lib/store/remote/remote-session.store';
export { SessionRpcController } from './lib/store/remote/session-rpc.controller';
export {
  InMemorySessionStore,
  InMemorySessionStoreOptions,
} from './lib/store/in-memory/in-memory-session.store';

export { SessionCacheInvalidator } from './lib/cache/session-cache.invalidator';
export { SessionStoreHealthIndicator } from './lib/health/session-store.health';
export { SessionStoreUnavailableError } from './lib/errors/session-store-unavailable.error';
export { SessionUserChangedError } from './lib/errors/session-user-changed.error';
