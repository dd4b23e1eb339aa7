export { SessionModule } from './lib/session.module';
export { SessionService } from './lib/session.service';
export { SessionGuard, RouteRule, TokenSource } from './lib/session.guard';
export { Roles } from './lib/roles.decorator';
export { Public, IS_PUBLIC_KEY } from './lib/public.decorator';
export { CurrentSession, CurrentUser } from './lib/current-session.decorator';
export { SessionStore, NewSessionRecord, UserRef } from './lib/session-store.interface';
export { RedisSessionStore } from './lib/redis-session.store';
export { RemoteSessionStore } from './lib/remote-session.store';
export { SessionRpcController } from './lib/session-rpc.controller';
export { SessionCacheInvalidator } from './lib/session-cache-invalidator.controller';
export { SessionStoreUnavailableError } from './lib/session-store-unavailable.error';
export { SessionStoreHealthIndicator } from './lib/session-store.health';
export { SessionCookieService } from './lib/session-cookie.service';
export { OriginPolicy, OriginCheckedRequest } from './lib/origin-policy';
export { SESSION_CONFIG, SessionEvents, SessionRpc } from './lib/session.constants';
export {
  IssuedSession,
  Session,
  SessionConfig,
  SessionCookieOptions,
  SessionLocalCacheOptions,
  SessionMeta,
  SessionModuleOptions,
  SessionRedisConnection,
  SessionRemoteConnection,
  SessionUser,
} from './lib/session.types';
