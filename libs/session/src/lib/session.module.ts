import { Module } from '@nestjs/common';

import { OriginPolicy } from './origin-policy';
import { RedisSessionStore } from './redis-session.store';
import { RemoteSessionStore } from './remote-session.store';
import { SESSION_CACHE, SessionCache } from './session-cache';
import { SessionCookieService } from './session-cookie.service';
import { SessionStore } from './session-store.interface';
import { resolveSessionConfig } from './session.config';
import { SESSION_CONFIG } from './session.constants';
import { SessionGuard } from './session.guard';
import { ConfigurableModuleClass, SESSION_MODULE_OPTIONS } from './session.module-definition';
import { SessionService } from './session.service';
import { SessionConfig, SessionModuleOptions } from './session.types';

/**
 * Server-side sessions for a Nest app: import once (global by default) and bind
 * `SessionGuard` as `APP_GUARD`.
 *
 * @example
 * @Module({
 *   imports: [SessionModule.forRoot({ redis: { url: 'redis://127.0.0.1:6379' } })],
 *   providers: [{ provide: APP_GUARD, useClass: SessionGuard }],
 * })
 * export class AppModule {}
 */
@Module({
  providers: [
    {
      provide: SESSION_CONFIG,
      inject: [SESSION_MODULE_OPTIONS],
      useFactory: (options: SessionModuleOptions) => resolveSessionConfig(options),
    },
    {
      provide: SessionStore,
      inject: [SESSION_CONFIG],
      useFactory: (config: SessionConfig) =>
        config.mode === 'remote' ? new RemoteSessionStore(config) : new RedisSessionStore(config),
    },
    {
      provide: SESSION_CACHE,
      inject: [SESSION_MODULE_OPTIONS],
      useFactory: (options: SessionModuleOptions) =>
        options.localCache ? new SessionCache(options.localCache) : null,
    },
    SessionService,
    SessionCookieService,
    OriginPolicy,
    SessionGuard,
  ],
  exports: [
    SESSION_CACHE,
    SESSION_CONFIG,
    SessionStore,
    SessionService,
    SessionCookieService,
    OriginPolicy,
    SessionGuard,
  ],
})
export class SessionModule extends ConfigurableModuleClass {}
