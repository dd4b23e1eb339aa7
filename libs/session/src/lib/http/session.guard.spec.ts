import { IncomingMessage, ServerResponse } from 'node:http';
import { Socket } from 'node:net';
import { Controller, ExecutionContext, Get, UnauthorizedException } from '@nestjs/common';
import { ROUTE_ARGS_METADATA } from '@nestjs/common/constants';
import { Test } from '@nestjs/testing';

import { SessionStoreUnavailableError } from '../errors/session-store-unavailable.error';
import type { SessionMetrics } from '../metrics/session-metrics.interface';
import { REQUEST_SESSION_PROPERTY, REQUEST_TOKEN_PROPERTY } from '../session.constants';
import { SessionModule } from '../session.module';
import { SessionService } from '../session.service';
import { InMemorySessionStore } from '../store/in-memory/in-memory-session.store';
import { parseToken } from '../token/session.token';
import type { SessionSocket } from '../ws/session-socket.interface';
import { SessionSockets } from '../ws/session-sockets.service';
import { CurrentSession, CurrentUser } from './current-session.decorator';
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

  // Less than a millisecond: it must not read as "no window of its own".
  @RequireRecentAuth(0.0004)
  @Get()
  recentTiny() {
    return 'recent-tiny';
  }
}

/** Roles whose names look like another's, or like properties every object has. */
@Controller()
class LookalikeRolesController {
  @Roles('__proto__')
  @Get()
  proto() {
    return 'proto';
  }

  @Roles('constructor')
  @Get()
  ctor() {
    return 'ctor';
  }

  @Roles('toString', 'hasOwnProperty')
  @Get()
  inherited() {
    return 'inherited';
  }

  @Roles('Admin', ' admin', 'admin ')
  @Get()
  lookalike() {
    return 'lookalike';
  }
}

function lookalikeContext(handler: keyof LookalikeRolesController, token: string) {
  return {
    getType: () => 'http',
    getHandler: () => LookalikeRolesController.prototype[handler],
    getClass: () => LookalikeRolesController,
    switchToHttp: () => ({
      getRequest: () => ({ method: 'GET', headers: { authorization: `Bearer ${token}` } }),
      getResponse: () => ({}),
    }),
  } as unknown as ExecutionContext;
}

/** A public controller whose handlers name requirements of their own. */
@Public()
@Controller()
class PublicFixtureController {
  @Get()
  open() {
    return 'open';
  }

  @Roles('admin')
  @Get()
  adminOnly() {
    return 'admin-only';
  }

  @RequireRecentAuth()
  @Get()
  recent() {
    return 'recent';
  }

  @Public()
  @Roles('admin')
  @Get()
  contradictory() {
    return 'contradictory';
  }
}

function publicHttpContext(
  handler: keyof PublicFixtureController,
  headers: Record<string, string>,
) {
  return {
    getType: () => 'http',
    getHandler: () => PublicFixtureController.prototype[handler],
    getClass: () => PublicFixtureController,
    switchToHttp: () => ({
      getRequest: () => ({ method: 'GET', headers }),
      getResponse: () => ({}),
    }),
  } as unknown as ExecutionContext;
}

/** `response`: what Nest hands the guard as the response (Express's, or Fastify's reply). */
function httpContext(
  handler: keyof FixtureController,
  headers: Record<string, string>,
  response: unknown = {},
) {
  const request: Record<string, unknown> = { method: 'GET', headers };
  const context = {
    getType: () => 'http',
    getHandler: () => FixtureController.prototype[handler],
    getClass: () => FixtureController,
    switchToHttp: () => ({ getRequest: () => request, getResponse: () => response }),
  } as unknown as ExecutionContext;
  return { context, request };
}

/** A Node response that has sent nothing yet, as Express's is when the guard runs. */
function nodeResponse(): ServerResponse {
  return new ServerResponse(new IncomingMessage(new Socket()));
}

function graphqlContext(
  handler: keyof FixtureController,
  headers: Record<string, string>,
  method = 'POST',
) {
  const request: Record<string, unknown> = { method, headers };
  // One context object per operation, shared by its resolvers, as GraphQL passes it.
  const operation = { req: request };
  const context = {
    getType: () => 'graphql',
    getHandler: () => FixtureController.prototype[handler],
    getClass: () => FixtureController,
    getArgByIndex: (index: number) => (index === 2 ? operation : {}),
  } as unknown as ExecutionContext;
  return { context, request };
}

class FakeSocket implements SessionSocket {
  readyState = 1;
  readonly sent: unknown[] = [];
  closedWith?: { code?: number; reason?: string };
  private readonly onClose: (() => void)[] = [];
  [REQUEST_SESSION_PROPERTY]?: SessionSocket['session'];

  send(data: string): void {
    this.sent.push(JSON.parse(data));
  }

  close(code?: number, reason?: string): void {
    this.closedWith = { code, reason };
    this.readyState = 3;
    for (const listener of this.onClose.splice(0)) listener();
  }

  once(_event: 'close', listener: () => void): void {
    this.onClose.push(listener);
  }
}

function wsContext(handler: keyof FixtureController, client: SessionSocket) {
  return {
    getType: () => 'ws',
    getHandler: () => FixtureController.prototype[handler],
    getClass: () => FixtureController,
    switchToWs: () => ({ getClient: () => client, getPattern: () => handler, getData: () => ({}) }),
  } as unknown as ExecutionContext;
}

const upgrade = (headers: Record<string, string>) => ({ headers }) as unknown as IncomingMessage;

/** What a param decorator built with createParamDecorator computes in a context. */
function paramOf(decorator: () => ParameterDecorator, context: ExecutionContext): unknown {
  class Target {
    handler(): undefined {
      return undefined;
    }
  }
  decorator()(Target.prototype, 'handler', 0);
  const metadata = Reflect.getMetadata(ROUTE_ARGS_METADATA, Target, 'handler');
  const [entry] = Object.values(metadata) as {
    factory: (data: unknown, ctx: unknown) => unknown;
  }[];
  return entry.factory(undefined, context);
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

  it('lets @Public() routes through without looking at the store, and without a promise', () => {
    store.failing = true;
    expect(guard.canActivate(httpContext('open', {}).context)).toBe(true);
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

  it('refuses a session cookie and a bearer header that differ, as readSessionToken does', async () => {
    const cookie = await sessions.create({ id: '1', username: 'alice', roles: ['customer'] });
    const header = await sessions.create({ id: '2', username: 'bob', roles: ['customer'] });
    const { context, request } = httpContext('inherited', {
      cookie: `cr_session=${cookie.token}`,
      ...bearer(header.token),
    });
    await expect(guard.canActivate(context)).rejects.toBeInstanceOf(UnauthorizedException);
    expect(request['session']).toBeUndefined();
    const same = httpContext('inherited', {
      cookie: `cr_session=${cookie.token}`,
      ...bearer(cookie.token),
    });
    await expect(guard.canActivate(same.context)).resolves.toBe(true);
    expect(same.request[REQUEST_TOKEN_PROPERTY]).toEqual({ token: cookie.token, source: 'cookie' });
  });

  it('refuses a request with two Authorization header lines on Express or Fastify, before the store', async () => {
    const { token } = await sessions.create({ id: '1', username: 'alice', roles: ['customer'] });
    store.failing = true; // a refusal on the headers never asks the store
    const lines = ['Authorization', `Bearer ${token}`, 'authorization', `Bearer ${token}`];
    const express = httpContext('inherited', bearer(token));
    express.request['rawHeaders'] = lines;
    await expect(guard.canActivate(express.context)).rejects.toMatchObject({ status: 401 });
    const fastify = httpContext('inherited', bearer(token));
    fastify.request['raw'] = { rawHeaders: lines };
    await expect(guard.canActivate(fastify.context)).rejects.toMatchObject({ status: 401 });
    store.failing = false;
    const single = httpContext('inherited', bearer(token));
    single.request['rawHeaders'] = lines.slice(0, 2);
    await expect(guard.canActivate(single.context)).resolves.toBe(true);
  });

  describe('Cache-Control', () => {
    const fastifyReply = () => ({ raw: nodeResponse() });

    it('marks the answer no-store whether the guard refuses or passes, on Express and Fastify', async () => {
      const { token } = await sessions.create({ id: '1', username: 'alice', roles: ['customer'] });
      const answers = {
        passed: nodeResponse(),
        unauthenticated: nodeResponse(),
        forbidden: nodeResponse(),
        fastify: fastifyReply(),
      };
      await guard.canActivate(httpContext('inherited', bearer(token), answers.passed).context);
      await expect(
        guard.canActivate(httpContext('inherited', {}, answers.unauthenticated).context),
      ).rejects.toMatchObject({ status: 401 });
      await expect(
        guard.canActivate(httpContext('overridden', bearer(token), answers.forbidden).context),
      ).rejects.toMatchObject({ status: 403 });
      await expect(
        guard.canActivate(httpContext('inherited', {}, answers.fastify).context),
      ).rejects.toMatchObject({ status: 401 });
      expect({
        passed: answers.passed.getHeader('cache-control'),
        unauthenticated: answers.unauthenticated.getHeader('cache-control'),
        forbidden: answers.forbidden.getHeader('cache-control'),
        fastify: answers.fastify.raw.getHeader('cache-control'),
      }).toEqual({
        passed: 'no-store',
        unauthenticated: 'no-store',
        forbidden: 'no-store',
        fastify: 'no-store',
      });
    });

    it('marks the 503 of a failing store no-store', async () => {
      const { token } = await sessions.create({ id: '1', username: 'alice', roles: ['customer'] });
      store.failing = true;
      const response = nodeResponse();
      await expect(
        guard.canActivate(httpContext('inherited', bearer(token), response).context),
      ).rejects.toBeInstanceOf(SessionStoreUnavailableError);
      expect(response.getHeader('cache-control')).toBe('no-store');
    });

    it('keeps a policy set before it, leaves public routes alone, and never writes after the headers', async () => {
      const kept = nodeResponse();
      kept.setHeader('Cache-Control', 'private, max-age=5');
      await expect(
        guard.canActivate(httpContext('inherited', {}, kept).context),
      ).rejects.toMatchObject({ status: 401 });
      expect(kept.getHeader('cache-control')).toBe('private, max-age=5');

      const open = nodeResponse();
      expect(guard.canActivate(httpContext('open', {}, open).context)).toBe(true);
      expect(open.hasHeader('cache-control')).toBe(false);

      const sent = nodeResponse();
      Object.defineProperty(sent, 'headersSent', { value: true });
      const setHeader = jest.spyOn(sent, 'setHeader');
      await expect(
        guard.canActivate(httpContext('inherited', {}, sent).context),
      ).rejects.toMatchObject({ status: 401 });
      expect(setHeader).not.toHaveBeenCalled();
    });
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

  describe('on a @Public() controller', () => {
    it('lets its handlers without requirements through without a session', () => {
      expect(guard.canActivate(publicHttpContext('open', {}))).toBe(true);
    });

    it('still asks for a session and a role where a handler names @Roles', async () => {
      await expect(guard.canActivate(publicHttpContext('adminOnly', {}))).rejects.toMatchObject({
        status: 401,
      });
      const customer = await sessions.create({ id: '1', username: 'alice', roles: ['customer'] });
      await expect(
        guard.canActivate(publicHttpContext('adminOnly', bearer(customer.token))),
      ).rejects.toMatchObject({ status: 403 });
      const admin = await sessions.create({ id: '2', username: 'root', roles: ['admin'] });
      await expect(
        guard.canActivate(publicHttpContext('adminOnly', bearer(admin.token))),
      ).resolves.toBe(true);
    });

    it('still asks for a session where a handler names @RequireRecentAuth', async () => {
      await expect(guard.canActivate(publicHttpContext('recent', {}))).rejects.toMatchObject({
        status: 401,
      });
    });

    it('lets a requirement win over @Public() on the same handler', async () => {
      await expect(guard.canActivate(publicHttpContext('contradictory', {}))).rejects.toMatchObject(
        { status: 401 },
      );
    });
  });

  it('matches roles exactly: no case folding, no trimming, no property of every object', async () => {
    const handlers = ['proto', 'ctor', 'inherited', 'lookalike'] as const;
    const outcome = async (roles: string[], handler: (typeof handlers)[number]) => {
      const { token } = await sessions.create({ id: `u-${roles.join('|')}`, username: 'u', roles });
      return Promise.resolve(guard.canActivate(lookalikeContext(handler, token))).then(
        () => 200,
        (error: { status?: number }) => error.status,
      );
    };
    for (const roles of [['admin'], [], ['ADMIN', 'customer']]) {
      for (const handler of handlers) {
        expect({ roles, handler, status: await outcome(roles, handler) }).toEqual({
          roles,
          handler,
          status: 403,
        });
      }
    }
    expect(await outcome(['constructor'], 'ctor')).toBe(200);
    expect(await outcome(['constructor'], 'proto')).toBe(403);
    expect(await outcome(['__proto__'], 'proto')).toBe(200);
    expect(await outcome([' admin'], 'lookalike')).toBe(200);
  });

  it('refuses @Roles() without a role when the route is declared, not by letting everyone in', () => {
    expect(() => Roles()).toThrow(TypeError);
    expect(() => Roles('admin', '')).toThrow(TypeError);
    expect(() => Roles('admin')).not.toThrow();
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
      const check = async () => guard.canActivate(httpContext('recent', bearer(token)).context);
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
      const check = async () =>
        guard.canActivate(httpContext('recentShort', bearer(token)).context);
      later(29_000);
      await expect(check()).resolves.toBe(true);
      later(31_000);
      await expect(check()).rejects.toBeInstanceOf(ReauthenticationRequiredException);
    });

    it('keeps a window of less than a millisecond instead of taking the module’s', async () => {
      const { token } = await sessions.create({ id: '1', username: 'alice', roles: ['customer'] });
      later(1_000);
      await expect(
        guard.canActivate(httpContext('recentTiny', bearer(token)).context),
      ).rejects.toBeInstanceOf(ReauthenticationRequiredException);
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

  it('denies a context type it does not know unless the handler is public', async () => {
    const context = {
      ...httpContext('inherited', {}).context,
      getType: () => 'kafka-someday',
      getHandler: () => FixtureController.prototype.inherited,
      getClass: () => FixtureController,
    } as unknown as ExecutionContext;
    await expect(guard.canActivate(context)).resolves.toBe(false);
  });

  it('refuses a microservice message with a 401 RPC error when it accepts no assertion', async () => {
    const data = { skus: [], $session: 'cra1.x.y' };
    const context = {
      ...httpContext('inherited', {}).context,
      getType: () => 'rpc',
      switchToRpc: () => ({ getData: () => data, getContext: () => ({}) }),
      getHandler: () => FixtureController.prototype.inherited,
      getClass: () => FixtureController,
    } as unknown as ExecutionContext;
    await expect(guard.canActivate(context)).rejects.toMatchObject({
      error: { status: 401, error: 'unauthenticated' },
    });
    // The assertion never reaches the handler's payload.
    expect(data).toEqual({ skus: [] });
  });

  describe('in a GraphQL resolver', () => {
    const user = { id: '1', username: 'alice', roles: ['customer'] };

    it('reads the operation’s request from the context and attaches the session to it', async () => {
      const { token, session } = await sessions.create(user);
      const { context, request } = graphqlContext('inherited', bearer(token));
      await expect(guard.canActivate(context)).resolves.toBe(true);
      expect(request[REQUEST_SESSION_PROPERTY]).toMatchObject({ id: session.id });
      expect(request[REQUEST_TOKEN_PROPERTY]).toEqual({ token, source: 'bearer' });
      expect(paramOf(CurrentUser, context)).toEqual(user);
      expect(paramOf(CurrentSession, context)).toMatchObject({ id: session.id });
    });

    it('answers 401 without a session, or without a request in the context', async () => {
      await expect(
        guard.canActivate(graphqlContext('inherited', {}).context),
      ).rejects.toMatchObject({
        status: 401,
      });
      const { context } = graphqlContext('inherited', {});
      const bare = { ...context, getArgByIndex: () => ({}) } as unknown as ExecutionContext;
      await expect(guard.canActivate(bare)).rejects.toMatchObject({ status: 401 });
    });

    it('answers 403 without the role, and honours @Public()', async () => {
      const { token } = await sessions.create(user);
      await expect(
        guard.canActivate(graphqlContext('overridden', bearer(token)).context),
      ).rejects.toMatchObject({ status: 403 });
      expect(guard.canActivate(graphqlContext('open', {}).context)).toBe(true);
    });

    it('refuses a cookie-authenticated POST from a foreign origin, not a bearer one', async () => {
      const { token } = await sessions.create(user);
      const cookie = { cookie: `cr_session=${token}`, origin: 'https://evil.example' };
      await expect(
        guard.canActivate(graphqlContext('inherited', cookie).context),
      ).rejects.toMatchObject({ status: 403, message: 'Cross-origin request refused' });
      await expect(
        guard.canActivate(
          graphqlContext('inherited', { ...bearer(token), origin: 'https://evil.example' }).context,
        ),
      ).resolves.toBe(true);
    });

    it('validates once per operation for several resolvers', async () => {
      const { token } = await sessions.create(user);
      const validate = jest.spyOn(sessions, 'validate');
      const { context } = graphqlContext('inherited', bearer(token));
      await guard.canActivate(context);
      await guard.canActivate(context);
      expect(validate).toHaveBeenCalledTimes(1);
    });
  });

  describe('on a WebSocket message', () => {
    let sockets: SessionSockets;
    const user = { id: '1', username: 'alice', roles: ['customer'] };

    beforeEach(() => {
      sockets = guard['sockets'] as SessionSockets;
    });

    async function authenticated() {
      const { token, session } = await sessions.create(user);
      const client = new FakeSocket();
      await expect(
        sockets.authenticate(client, upgrade({ authorization: `Bearer ${token}` })),
      ).resolves.toMatchObject({ id: session.id });
      return { client, token, session };
    }

    it('lets a message of a live session through, with the session on the socket', async () => {
      const { client, session } = await authenticated();
      await expect(guard.canActivate(wsContext('inherited', client))).resolves.toBe(true);
      expect(paramOf(CurrentSession, wsContext('inherited', client))).toMatchObject({
        id: session.id,
      });
      expect(client.closedWith).toBeUndefined();
    });

    it('waits for a handshake still in flight', async () => {
      const { token } = await sessions.create(user);
      const client = new FakeSocket();
      const handshake = sockets.authenticate(client, upgrade({ authorization: `Bearer ${token}` }));
      await expect(guard.canActivate(wsContext('inherited', client))).resolves.toBe(true);
      await handshake;
    });

    it('closes with 4401 a socket that never authenticated, or whose session died', async () => {
      const stranger = new FakeSocket();
      await expect(guard.canActivate(wsContext('inherited', stranger))).resolves.toBe(false);
      expect(stranger.closedWith?.code).toBe(4401);

      const { client, token } = await authenticated();
      // Behind SessionService's back, as a store changed by hand.
      const ref = parseToken(token);
      if (!ref) throw new Error('malformed token');
      await store.revoke(ref);
      await expect(guard.canActivate(wsContext('inherited', client))).resolves.toBe(false);
      expect(client.closedWith).toEqual({ code: 4401, reason: 'Session ended' });
      expect(sockets.size).toBe(0);
    });

    it('sends an exception frame for a missing role or an old authentication, and keeps the socket', async () => {
      const { client } = await authenticated();
      await expect(guard.canActivate(wsContext('overridden', client))).resolves.toBe(false);
      expect(client.sent).toEqual([
        {
          event: 'exception',
          data: { status: 403, message: 'Missing role', pattern: 'overridden' },
        },
      ]);
      jest.spyOn(Date, 'now').mockReturnValue(Date.now() + 31_000);
      await expect(guard.canActivate(wsContext('recentShort', client))).resolves.toBe(false);
      jest.restoreAllMocks();
      expect(client.sent[1]).toEqual({
        event: 'exception',
        data: {
          status: 401,
          message: 'Recent authentication required',
          error: 'reauthentication_required',
          pattern: 'recentShort',
        },
      });
      expect(client.closedWith).toBeUndefined();
    });

    it('counts each refused message by the status it was refused with', async () => {
      const outcomes: Array<[string, string]> = [];
      const metrics: SessionMetrics = {
        guardOutcome: (outcome, context) => void outcomes.push([outcome, context]),
        storeCall: () => undefined,
        cacheLookup: () => undefined,
        cacheInvalidation: () => undefined,
      };
      const counted = new SessionGuard(
        sessions,
        guard['reflector'],
        guard['cookies'],
        guard['originPolicy'],
        guard['config'],
        sockets,
        null,
        metrics,
      );
      const { client } = await authenticated();
      await counted.canActivate(wsContext('inherited', client));
      await counted.canActivate(wsContext('overridden', client));
      store.failing = true;
      await counted.canActivate(wsContext('inherited', client));
      store.failing = false;
      await counted.canActivate(wsContext('inherited', new FakeSocket()));
      expect(outcomes).toEqual([
        ['ok', 'ws'],
        ['403', 'ws'],
        ['503', 'ws'],
        ['401', 'ws'],
      ]);
    });

    it('sends a 503 frame when the store is down, and keeps the socket', async () => {
      const { client } = await authenticated();
      store.failing = true;
      await expect(guard.canActivate(wsContext('inherited', client))).resolves.toBe(false);
      expect(client.sent).toEqual([
        {
          event: 'exception',
          data: { status: 503, message: 'Session store unavailable', pattern: 'inherited' },
        },
      ]);
      expect(client.closedWith).toBeUndefined();
    });
  });
  describe('with a local cache', () => {
    let cachedGuard: SessionGuard;
    let cachedSessions: SessionService;
    let cachedStore: InMemorySessionStore;

    beforeEach(async () => {
      cachedStore = new InMemorySessionStore();
      const moduleRef = await Test.createTestingModule({
        imports: [SessionModule.forRoot({ store: cachedStore, localCache: { ttl: 60 } })],
      }).compile();
      moduleRef.useLogger(false);
      cachedGuard = moduleRef.get(SessionGuard);
      cachedSessions = moduleRef.get(SessionService);
    });

    /** A session the cache holds: validated once through the guard. */
    async function cachedSession(roles = ['customer']) {
      const issued = await cachedSessions.create({ id: '1', username: 'alice', roles }, {});
      await expect(cachedGuard.canActivate(httpContext('open', {}).context)).toBe(true);
      const first = cachedGuard.canActivate(httpContext('recent', bearer(issued.token)).context);
      expect(first).toBeInstanceOf(Promise);
      await expect(first).resolves.toBe(true);
      return issued;
    }

    it('answers a request whose session it holds synchronously, with the session attached', async () => {
      const { token } = await cachedSession();
      cachedStore.failing = true; // a hit never asks the store
      const { context, request } = httpContext('inherited', bearer(token));
      expect(cachedGuard.canActivate(context)).toBe(true);
      expect(request[REQUEST_SESSION_PROPERTY]).toMatchObject({ userId: '1', roles: ['customer'] });
      expect(request[REQUEST_TOKEN_PROPERTY]).toEqual({ token, source: 'bearer' });
      // The attached session is the request's own copy: changing it leaves the cache's alone.
      (request[REQUEST_SESSION_PROPERTY] as { roles: string[] }).roles.push('admin');
      expect(() =>
        cachedGuard.canActivate(httpContext('overridden', bearer(token)).context),
      ).toThrow(expect.objectContaining({ status: 403 }));
    });

    it('throws the refusals of a cached session at once: missing role 403, stale authentication 401', async () => {
      const { token, session } = await cachedSession();
      expect(() =>
        cachedGuard.canActivate(httpContext('overridden', bearer(token)).context),
      ).toThrow(expect.objectContaining({ status: 403 }));
      // Past the route's 30 s window, within the cache's 60 s.
      jest.spyOn(Date, 'now').mockReturnValue(session.authenticatedAt + 31_000);
      try {
        expect(() =>
          cachedGuard.canActivate(httpContext('recentShort', bearer(token)).context),
        ).toThrow(ReauthenticationRequiredException);
      } finally {
        jest.restoreAllMocks();
      }
    });

    it('asks the store again once the session is revoked, and refuses it', async () => {
      const { token, session } = await cachedSession();
      await cachedSessions.revoke(session.id);
      const answer = cachedGuard.canActivate(httpContext('inherited', bearer(token)).context);
      expect(answer).toBeInstanceOf(Promise);
      await expect(answer).rejects.toMatchObject({ status: 401 });
    });

    it('refuses a cached session that a global revocation outdates', async () => {
      const { token } = await cachedSession();
      await cachedSessions.revokeEverything();
      await expect(
        Promise.resolve().then(() =>
          cachedGuard.canActivate(httpContext('inherited', bearer(token)).context),
        ),
      ).rejects.toMatchObject({ status: 401 });
    });

    it('takes no cached answer for a cookie from a foreign origin', async () => {
      const { token } = await cachedSession();
      const { context } = httpContext('inherited', {
        cookie: `cr_session=${token}`,
        origin: 'https://evil.example',
      });
      (context.switchToHttp().getRequest() as { method: string }).method = 'POST';
      await expect(
        Promise.resolve().then(() => cachedGuard.canActivate(context)),
      ).rejects.toMatchObject({ status: 403 });
    });

    it("never skips a subclass's validate hook on a cache hit", async () => {
      const { token } = await cachedSession();
      const seen: string[] = [];
      class Audited extends SessionGuard {
        protected override validate(token: string) {
          seen.push(token);
          return super.validate(token);
        }
      }
      const audited = new Audited(
        cachedSessions,
        cachedGuard['reflector'],
        cachedGuard['cookies'],
        cachedGuard['originPolicy'],
        cachedGuard['config'],
      );
      await expect(
        Promise.resolve(audited.canActivate(httpContext('inherited', bearer(token)).context)),
      ).resolves.toBe(true);
      expect(seen).toEqual([token]);
    });
  });

  describe('with metrics', () => {
    /** A guard and store through the module, counting into a recorder. */
    async function measured(
      localCache?: { ttl: number },
      backing: InMemorySessionStore = new InMemorySessionStore(),
    ) {
      const outcomes: string[] = [];
      const storeCalls: string[] = [];
      const metrics: SessionMetrics = {
        guardOutcome: (outcome, context) => void outcomes.push(`${outcome} ${context}`),
        storeCall: (operation, seconds, failed) => {
          expect(seconds).toBeGreaterThanOrEqual(0);
          storeCalls.push(failed ? `${operation} failed` : operation);
        },
        cacheLookup: () => undefined,
        cacheInvalidation: () => undefined,
      };
      const moduleRef = await Test.createTestingModule({
        imports: [SessionModule.forRoot({ store: backing, metrics, localCache })],
      }).compile();
      moduleRef.useLogger(false);
      const issued = await moduleRef
        .get(SessionService)
        .create({ id: '1', username: 'alice', roles: ['customer'] });
      storeCalls.length = 0;
      return { guard: moduleRef.get(SessionGuard), backing, outcomes, storeCalls, issued };
    }

    it('counts every HTTP outcome once, and each store call with whether it failed', async () => {
      const { guard, backing, outcomes, storeCalls, issued } = await measured();
      const headers = bearer(issued.token);
      await expect(guard.canActivate(httpContext('inherited', headers).context)).resolves.toBe(
        true,
      );
      await expect(guard.canActivate(httpContext('inherited', {}).context)).rejects.toMatchObject({
        status: 401,
      });
      await expect(
        guard.canActivate(httpContext('overridden', headers).context),
      ).rejects.toMatchObject({ status: 403 });
      backing.failing = true;
      await expect(
        guard.canActivate(httpContext('inherited', headers).context),
      ).rejects.toBeInstanceOf(SessionStoreUnavailableError);
      expect(outcomes).toEqual(['ok http', '401 http', '403 http', '503 http']);
      expect(storeCalls).toEqual(['validate', 'validate', 'validate failed']);
    });

    it('answers 503 and counts a failed call for a store that throws instead of rejecting', async () => {
      class ThrowingStore extends InMemorySessionStore {
        override validate(ref: Parameters<InMemorySessionStore['validate']>[0]) {
          if (this.failing) {
            throw new SessionStoreUnavailableError();
          }
          return super.validate(ref);
        }
      }
      const { guard, backing, outcomes, storeCalls, issued } = await measured(
        undefined,
        new ThrowingStore(),
      );
      backing.failing = true;
      const refused = guard.canActivate(httpContext('inherited', bearer(issued.token)).context);
      await expect(refused).rejects.toBeInstanceOf(SessionStoreUnavailableError);
      expect(outcomes).toEqual(['503 http']);
      expect(storeCalls).toEqual(['validate failed']);
    });

    it('times a store method that answers a value instead of a promise', async () => {
      class ValueStore extends InMemorySessionStore {
        override validate() {
          return null as unknown as Promise<null>;
        }
      }
      const { guard, outcomes, storeCalls, issued } = await measured(undefined, new ValueStore());
      await expect(
        guard.canActivate(httpContext('inherited', bearer(issued.token)).context),
      ).rejects.toMatchObject({ status: 401 });
      expect(outcomes).toEqual(['401 http']);
      expect(storeCalls).toEqual(['validate']);
    });

    it('counts cache hits, passed and refused, without a store call or a promise', async () => {
      const { guard, backing, outcomes, storeCalls, issued } = await measured({ ttl: 60 });
      const headers = bearer(issued.token);
      await expect(guard.canActivate(httpContext('inherited', headers).context)).resolves.toBe(
        true,
      );
      backing.failing = true; // a hit never asks the store
      expect(guard.canActivate(httpContext('inherited', headers).context)).toBe(true);
      expect(() => guard.canActivate(httpContext('overridden', headers).context)).toThrow(
        expect.objectContaining({ status: 403 }),
      );
      expect(outcomes).toEqual(['ok http', 'ok http', '403 http']);
      expect(storeCalls).toEqual(['validate']);
    });
  });
});
