import { DynamicModule, Module, Provider, Type } from '@nestjs/common';
import { APP_GUARD } from '@nestjs/core';
import { JwtModule } from '@nestjs/jwt';
import { importSPKI } from 'jose';

import { PrometheusSessionMetrics } from '@cloakroom/service-sessions';
import { SessionGuard, SessionModule, SessionModuleOptions } from '@cloakroom/session';

import { AllowAllGuard } from '../guards/allow-all.guard';
import { ExpressSessionGuard } from '../guards/express-session.guard';
import { FastJwtGuard } from '../guards/fast-jwt.guard';
import { HashFloorGuard } from '../guards/hash-floor.guard';
import { JoseJwtGuard } from '../guards/jose-jwt.guard';
import { NestJwtGuard } from '../guards/nest-jwt.guard';
import { REDIS_CLIENT_NAME, SESSION_KEY_PREFIX, ServerSettings } from '../scenarios';
import { BenchController } from './bench.controller';
import { redisFloorClient, RedisFloorController } from './redis-floor.controller';

/**
 * Local cache settings of the `session-cache` scenario; the library keeps the cache in step by
 * following the session event stream itself.
 */
export const BENCH_LOCAL_CACHE = { ttl: 5, max: 10_000 };

/** The session library's options as every `session*` scenario uses them, before its variant. */
export function sessionOptions(redisUrl: string): SessionModuleOptions {
  return {
    redis: { url: redisUrl, options: { connectionName: REDIS_CLIENT_NAME } },
    keyPrefix: SESSION_KEY_PREFIX,
  };
}

/** The benchmark app: one route, and the guard (with its module) that the scenario names. */
@Module({})
export class BenchModule {
  static forScenario(settings: ServerSettings): DynamicModule {
    const { imports, guard, controller = BenchController, providers = [] } = guardOf(settings);
    return {
      module: BenchModule,
      imports,
      controllers: [controller],
      providers: guard ? [guard, ...providers] : providers,
    };
  }
}

interface GuardSetup {
  imports: DynamicModule[];
  guard?: Provider;
  /** The route's controller, when it is not `BenchController`, and what it needs. */
  controller?: Type;
  providers?: Provider[];
}

function guardOf({ scenario, redisUrl, rpcPort, keys }: ServerSettings): GuardSetup {
  const session = (options: SessionModuleOptions): GuardSetup => ({
    imports: [SessionModule.forRoot(options)],
    guard: { provide: APP_GUARD, useClass: SessionGuard },
  });
  switch (scenario) {
    case 'none':
      return { imports: [] };
    case 'allow-all':
      return { imports: [], guard: { provide: APP_GUARD, useClass: AllowAllGuard } };
    case 'hash-floor':
      return { imports: [], guard: { provide: APP_GUARD, useClass: HashFloorGuard } };
    case 'redis-floor':
    case 'redis-floor-coalesced':
    case 'redis-floor-node-redis':
    case 'redis-floor-socket':
      return {
        imports: [],
        controller: RedisFloorController,
        providers: [redisFloorClient(scenario, redisUrl, REDIS_CLIENT_NAME)],
      };
    case 'session':
      return session(sessionOptions(redisUrl));
    case 'session-uncoalesced':
      return session({ ...sessionOptions(redisUrl), coalesceWrites: false });
    case 'session-autopipelining':
      return session({ ...sessionOptions(redisUrl), autoPipelining: true });
    case 'session-cache':
      return session({ ...sessionOptions(redisUrl), localCache: BENCH_LOCAL_CACHE });
    case 'session-metrics':
      // What the services run: guard outcomes and store latency into prom-client.
      return session({ ...sessionOptions(redisUrl), metrics: new PrometheusSessionMetrics() });
    case 'session-remote':
    case 'session-remote-unbatched':
      return session({
        remote: {
          host: '127.0.0.1',
          port: rpcPort,
          tls: keys.rpcTls.client,
          batchValidations: scenario === 'session-remote',
        },
      });
    case 'jwt-nestjs':
      return {
        imports: [JwtModule.register({ secret: keys.hsSecret })],
        guard: { provide: APP_GUARD, useClass: NestJwtGuard },
      };
    case 'jwt-hs256':
      return {
        imports: [],
        guard: { provide: APP_GUARD, useFactory: () => new FastJwtGuard(keys.hsSecret) },
      };
    case 'jwt-rs256':
      return {
        imports: [],
        guard: {
          provide: APP_GUARD,
          useFactory: async () =>
            new JoseJwtGuard(await importSPKI(keys.rsaPublicKey, 'RS256'), 'RS256'),
        },
      };
    case 'jwt-eddsa':
      return {
        imports: [],
        guard: {
          provide: APP_GUARD,
          useFactory: async () =>
            new JoseJwtGuard(await importSPKI(keys.edPublicKey, 'EdDSA'), 'EdDSA'),
        },
      };
    case 'express-session':
      return {
        imports: [],
        guard: { provide: APP_GUARD, useClass: ExpressSessionGuard },
      };
  }
}
