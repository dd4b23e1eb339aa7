import { Controller, ExecutionContext, Get } from '@nestjs/common';
import { Test } from '@nestjs/testing';

import { SessionStoreUnavailableError } from '../errors/session-store-unavailable.error';
import { REQUEST_TOKEN_PROPERTY } from '../session.constants';
import { SessionModule } from '../session.module';
import { SessionService } from '../session.service';
import { InMemorySessionStore } from '../store/in-memory/in-memory-session.store';
import { Public } from './public.decorator';
import { ReauthenticationRequiredException } from './reauthentication-required.exception';
import { RequireRecentAuth } from './require-recent-auth.decorator';
import { Roles } from './roles.decorator';
import { SessionGuard } from './session.guard';

@Roles('customer')
@Controller()
class FixtureController {
  @Get()
  inherited() {
    return 'inherited';
  }

  @Roles('admin')
  @Get()
  overridden() {
    return 'overridden';
  }

  @Public()
  @Get()
  open() {
    return 'open';
  }

  @RequireRecentAuth()
  @Get()
  recent() {
    return 'recent';
  }

  @RequireRecentAuth(30)
  @Get()
  recentShort() {
    return 'recent-short';
  }
}

function httpContext(handler: keyof FixtureController, headers: Record<string, string>) {
  const request: Record<string, unknown> = { method: 'GET', headers };
  const context = {
    getType: () => 'http',
    getHandler: () => FixtureController.prototype[handler],
    getClass: () => FixtureController,
    switchToHttp: () => ({ getRequest: () => request }),
  } as unknown as ExecutionContext;
  return { context, request };
}

describe('SessionGuard', () => {
  let guard: SessionGuard;
  let sessions: SessionService;
  let store: InMemorySessionStore;

  beforeEach(async () => {
    store = new InMemorySessionStore();
    const moduleRef = await Test.createTestingModule({
      imports: [SessionModule.forRoot({ store })],
    }).compile();
    guard = moduleRef.get(SessionGuard);
    sessions = moduleRef.get(SessionService);
  });

  const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

  it('denies by default: no token is 401', async () => {
    await expect(guard.canActivate(httpContext('inherited', {}).context)).rejects.toMatchObject({
      status: 401,
    });
  });

  it('lets @Public() routes through without looking at the store', async () => {
    store.failing = true;
    await expect(guard.canActivate(httpContext('open', {}).context)).resolves.toBe(true);
  });

  it('accepts the bearer scheme in any case', async () => {
    const { token } = await sessions.create({ id: '1', username: 'alice', roles: ['customer'] });
    for (const scheme of ['bearer', 'BEARER']) {
      const { context } = httpContext('inherited', { authorization: `${scheme} ${token}` });
      await expect(guard.canActivate(context)).resolves.toBe(true);
    }
  });

  it('puts the validated session and its token on the request', async () => {
    const { token } = await sessions.create({ id: '1', username: 'alice', roles: ['customer'] });
    const { context, request } = httpContext('inherited', bearer(token));
    await expect(guard.canActivate(context)).resolves.toBe(true);
    expect(request['session']).toMatchObject({ userId: '1', username: 'alice' });
    expect(request[REQUEST_TOKEN_PROPERTY]).toEqual({ token, source: 'bearer' });
  });

  it('prefers the session cookie to a bearer header, as readSessionTokens orders them', async () => {
    const cookie = await sessions.create({ id: '1', username: 'alice', roles: ['customer'] });
    const header = await sessions.create({ id: '2', username: 'bob', roles: ['customer'] });
    const { context, request } = httpContext('inherited', {
      cookie: `cr_session=${cookie.token}`,
      ...bearer(header.token),
    });
    await expect(guard.canActivate(context)).resolves.toBe(true);
    expect(request['session']).toMatchObject({ username: 'alice' });
    expect(request[REQUEST_TOKEN_PROPERTY]).toEqual({ token: cookie.token, source: 'cookie' });
  });

  it('applies the controller’s roles, and a handler’s roles override them', async () => {
    const { token } = await sessions.create({ id: '1', username: 'alice', roles: ['customer'] });
    await expect(guard.canActivate(httpContext('inherited', bearer(token)).context)).resolves.toBe(
      true,
    );
    await expect(
      guard.canActivate(httpContext('overridden', bearer(token)).context),
    ).rejects.toMatchObject({ status: 403 });
  });

  it('turns a store failure into 503, never a pass', async () => {
    const { token } = await sessions.create({ id: '1', username: 'alice', roles: ['customer'] });
    store.failing = true;
    const failure = guard.canActivate(httpContext('inherited', bearer(token)).context);
    await expect(failure).rejects.toBeInstanceOf(SessionStoreUnavailableError);
    await expect(failure).rejects.toMatchObject({ status: 503 });
  });

  describe('@RequireRecentAuth()', () => {
    const later = (ms: number) => {
      const now = Date.now();
      jest.spyOn(Date, 'now').mockReturnValue(now + ms);
    };
    afterEach(() => jest.restoreAllMocks());

    it('lets a login within the module window through, and asks again after it', async () => {
      const { token } = await sessions.create({ id: '1', username: 'alice', roles: ['customer'] });
      const check = () => guard.canActivate(httpContext('recent', bearer(token)).context);
      later(599_000);
      await expect(check()).resolves.toBe(true);
      later(601_000);
      const refused = await check().catch((error: unknown) => error);
      expect(refused).toBeInstanceOf(ReauthenticationRequiredException);
      expect((refused as ReauthenticationRequiredException).getStatus()).toBe(401);
      expect((refused as ReauthenticationRequiredException).getResponse()).toEqual({
        statusCode: 401,
        message: 'Recent authentication required',
        error: 'reauthentication_required',
      });
      // The session is fine for routes that do not ask.
      await expect(
        guard.canActivate(httpContext('inherited', bearer(token)).context),
      ).resolves.toBe(true);
    });

    it('uses the route’s own window when it gives one', async () => {
      const { token } = await sessions.create({ id: '1', username: 'alice', roles: ['customer'] });
      const check = () => guard.canActivate(httpContext('recentShort', bearer(token)).context);
      later(29_000);
      await expect(check()).resolves.toBe(true);
      later(31_000);
      await expect(check()).rejects.toBeInstanceOf(ReauthenticationRequiredException);
    });

    it('never counts a session without authenticatedAt as recent', async () => {
      const { token, session } = await sessions.create({
        id: '1',
        username: 'alice',
        roles: ['customer'],
      });
      const withoutTime: Partial<typeof session> = { ...session };
      delete withoutTime.authenticatedAt;
      jest.spyOn(sessions, 'validate').mockResolvedValue(withoutTime as typeof session);
      await expect(
        guard.canActivate(httpContext('recent', bearer(token)).context),
      ).rejects.toBeInstanceOf(ReauthenticationRequiredException);
    });

    it('lets an app decide through the protected hook', async () => {
      class LenientGuard extends SessionGuard {
        protected override isRecentlyAuthenticated(): boolean {
          return true;
        }
      }
      const lenient = new LenientGuard(
        sessions,
        guard['reflector'],
        guard['cookies'],
        guard['originPolicy'],
        guard['config'],
      );
      const { token } = await sessions.create({ id: '1', username: 'alice', roles: ['customer'] });
      later(1_000_000);
      await expect(lenient.canActivate(httpContext('recent', bearer(token)).context)).resolves.toBe(
        true,
      );
    });

    it('refuses a window that is not a positive number of seconds', () => {
      for (const seconds of [0, -1, Number.NaN, Number.POSITIVE_INFINITY]) {
        expect(() => RequireRecentAuth(seconds)).toThrow(TypeError);
      }
    });
  });

  it('denies non-HTTP contexts unless the handler is public', async () => {
    const context = {
      ...httpContext('inherited', {}).context,
      getType: () => 'rpc',
      getHandler: () => FixtureController.prototype.inherited,
      getClass: () => FixtureController,
    } as unknown as ExecutionContext;
    await expect(guard.canActivate(context)).resolves.toBe(false);
  });
});
