import { Controller, Get, INestApplication } from '@nestjs/common';
import request from 'supertest';

import {
  RequireRecentAuth,
  Roles,
  SessionModuleOptions,
  SessionService,
  SessionStore,
} from '../src';
import { freePort } from '../src/testing';
import {
  admin,
  alice,
  guardedApp,
  REDIS_URL as url,
  RpcServer,
  sleep,
  startRpcServer,
  testCertificates,
  uniquePrefix,
} from './store-contract';

jest.setTimeout(60_000);

@Controller('recent')
class RecentController {
  @RequireRecentAuth()
  @Get('default')
  byDefault() {
    return { ok: true };
  }

  @RequireRecentAuth(30)
  @Get('lenient')
  lenient() {
    return { ok: true };
  }

  @Get('any')
  any() {
    return { ok: true };
  }

  @RequireRecentAuth()
  @Roles('admin')
  @Get('admin')
  adminOnly() {
    return { ok: true };
  }
}

@RequireRecentAuth()
@Controller('sensitive')
class SensitiveController {
  @Get()
  strict() {
    return { ok: true };
  }

  // A handler's own window overrides its controller's.
  @RequireRecentAuth(30)
  @Get('lenient')
  lenient() {
    return { ok: true };
  }
}

const REAUTH_REQUIRED = {
  statusCode: 401,
  message: 'Recent authentication required',
  error: 'reauthentication_required',
};

interface Mode {
  /** The app under test, its guard checking `@RequireRecentAuth()` with a 1 s window. */
  app: INestApplication;
  /** Creates and rotates sessions: the app's own service, or auth's behind the RPC. */
  issuer: SessionService;
  /** Validations are served from the local cache once it follows the event stream. */
  cached?: boolean;
  stop(): Promise<void>;
}

/** The app under test, its guard checking `@RequireRecentAuth()` with a 1 s window. */
function recentAuthApp(options: SessionModuleOptions): Promise<INestApplication> {
  return guardedApp({ reauthWindow: 1, ...options }, [RecentController, SensitiveController]);
}

const MODES: Array<[string, () => Promise<Mode>]> = [
  [
    'direct (Redis)',
    async () => {
      const app = await recentAuthApp({ redis: { url }, keyPrefix: uniquePrefix() });
      return { app, issuer: app.get(SessionService), stop: () => app.close() };
    },
  ],
  [
    'remote (session RPC), as a service whose capability lists no time fields',
    async () => {
      const certificates = testCertificates();
      const port = await freePort();
      const rpc: RpcServer = await startRpcServer(port, uniquePrefix(), certificates);
      const app = await recentAuthApp({
        remote: { host: '127.0.0.1', port, tls: certificates.remoteTls('catalog') },
      });
      return {
        app,
        issuer: rpc.sessions,
        stop: async () => {
          await app.close();
          await rpc.server.close();
          certificates.dispose();
        },
      };
    },
  ],
  [
    'direct with the local cache',
    async () => {
      const app = await recentAuthApp({
        redis: { url },
        keyPrefix: uniquePrefix(),
        localCache: { ttl: 60 },
      });
      return { app, issuer: app.get(SessionService), cached: true, stop: () => app.close() };
    },
  ],
];

describe.each(MODES)('@RequireRecentAuth, %s', (_name, start) => {
  let mode: Mode;

  beforeAll(async () => {
    mode = await start();
  });

  afterAll(() => mode?.stop());

  const get = (path: string, token: string) =>
    request(mode.app.getHttpServer()).get(path).set('Authorization', `Bearer ${token}`);

  it('lets a fresh login through, asks again after the window, and passes after a step-up', async () => {
    const { token } = await mode.issuer.create(alice);
    expect((await get('/recent/default', token)).status).toBe(200);
    expect((await get('/sensitive', token)).status).toBe(200);

    await sleep(1100);
    const stale = await get('/recent/default', token);
    expect(stale.status).toBe(401);
    expect(stale.body).toEqual(REAUTH_REQUIRED);
    expect((await get('/sensitive', token)).body).toEqual(REAUTH_REQUIRED);
    // The session itself is fine: routes without the decorator, or with a longer window, pass.
    expect((await get('/recent/any', token)).status).toBe(200);
    expect((await get('/recent/lenient', token)).status).toBe(200);
    expect((await get('/sensitive/lenient', token)).status).toBe(200);

    // A rotation alone proves nothing: still too old.
    const rotated = await mode.issuer.rotate(token);
    expect((await get('/recent/default', rotated?.token ?? '')).body).toEqual(REAUTH_REQUIRED);

    const stepUp = await mode.issuer.rotate(rotated?.token ?? '', { reauthenticated: true });
    expect((await get('/recent/default', stepUp?.token ?? '')).status).toBe(200);
    expect((await get('/sensitive', stepUp?.token ?? '')).status).toBe(200);
    // The old token died with the rotation: 401, but not a re-authentication request.
    const old = await get('/recent/default', rotated?.token ?? '');
    expect(old.status).toBe(401);
    expect(old.body.error).not.toBe('reauthentication_required');

    await sleep(1100);
    expect((await get('/recent/default', stepUp?.token ?? '')).body).toEqual(REAUTH_REQUIRED);
  });

  it('tells a handler the same rule through SessionService, window or not', async () => {
    const service = mode.app.get(SessionService);
    const { token } = await mode.issuer.create({ ...alice, id: `${alice.id}-handler` });
    const fresh = await service.validate(token);
    expect(fresh && service.isRecentlyAuthenticated(fresh)).toBe(true);
    await sleep(1100);
    const stale = await service.validate(token);
    expect(stale && service.isRecentlyAuthenticated(stale)).toBe(false);
    expect(stale && service.isRecentlyAuthenticated(stale, 60_000)).toBe(true);
  });

  it('answers 403 for a missing role before asking for a re-authentication', async () => {
    const customer = await mode.issuer.create({ ...alice, id: `${alice.id}-roles` });
    const administrator = await mode.issuer.create(admin);
    await sleep(1100);
    expect((await get('/recent/admin', customer.token)).status).toBe(403);
    expect((await get('/recent/admin', administrator.token)).body).toEqual(REAUTH_REQUIRED);
  });

  /**
   * The caller's session survives a global revocation because its creation time moves to the
   * watermark; it was not authenticated again for that. Last in the block: the revocation ends
   * every session made before it.
   */
  it('asks again after the window when the session was kept through a revoke-all', async () => {
    const { token, session } = await mode.issuer.create({ ...alice, id: `${alice.id}-kept` });
    await sleep(600);
    await mode.issuer.revokeEverything({ except: session.id });
    await sleep(600);
    expect((await get('/recent/any', token)).status).toBe(200);
    expect((await get('/recent/default', token)).body).toEqual(REAUTH_REQUIRED);
    const kept = await mode.app.get(SessionService).validate(token);
    expect(kept?.authenticatedAt).toBe(session.authenticatedAt);
  });

  it('makes no store call beyond the validation (none when the session is cached)', async () => {
    const store = mode.app.get<SessionStore>(SessionStore);
    const { token } = await mode.issuer.create({ ...alice, id: `${alice.id}-calls` });
    const calls = jest.spyOn(store, 'validate');
    const reads = jest.spyOn(store, 'get');
    try {
      expect((await get('/recent/default', token)).status).toBe(200);
      if (mode.cached) {
        // The cache serves once its event feed has started: wait for a request it answers.
        for (let i = 0; i < 100; i++) {
          const before = calls.mock.calls.length;
          await get('/recent/any', token);
          if (calls.mock.calls.length === before) break;
          await sleep(50);
        }
      }
      await sleep(1100);
      calls.mockClear();
      expect((await get('/recent/default', token)).body).toEqual(REAUTH_REQUIRED);
      expect(calls).toHaveBeenCalledTimes(mode.cached ? 0 : 1);
      expect(reads).not.toHaveBeenCalled();
    } finally {
      calls.mockRestore();
      reads.mockRestore();
    }
  });
});
