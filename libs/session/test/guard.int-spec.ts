import { Controller, Get, INestApplication, Post } from '@nestjs/common';
import { APP_GUARD } from '@nestjs/core';
import { FastifyAdapter, NestFastifyApplication } from '@nestjs/platform-fastify';
import { Test } from '@nestjs/testing';
import { Redis } from 'ioredis';
import request from 'supertest';

import {
  CurrentUser,
  Public,
  Roles,
  SessionGuard,
  SessionModule,
  SessionModuleOptions,
  SessionService,
  SessionUser,
} from '../src';
import { RedisServerProcess, startRedisServer } from '../src/testing';
import { admin, alice, sleep, uniquePrefix } from './store-contract';

jest.setTimeout(30_000);

@Controller('fixture')
class FixtureController {
  @Public()
  @Get('public')
  open() {
    return { open: true };
  }

  @Get('me')
  me(@CurrentUser() user: SessionUser) {
    return user;
  }

  @Roles('admin')
  @Get('admin')
  adminOnly() {
    return { admin: true };
  }

  @Roles('customer', 'admin')
  @Post('orders')
  order(@CurrentUser() user: SessionUser) {
    return { by: user.username };
  }
}

const ORIGIN = 'http://localhost:3000';

async function fixtureApp(
  adapter: 'express' | 'fastify',
  options: SessionModuleOptions,
): Promise<INestApplication> {
  const moduleRef = await Test.createTestingModule({
    imports: [SessionModule.forRoot({ allowedOrigins: [ORIGIN], ...options })],
    controllers: [FixtureController],
    providers: [{ provide: APP_GUARD, useClass: SessionGuard }],
  }).compile();
  if (adapter === 'fastify') {
    const app = moduleRef.createNestApplication<NestFastifyApplication>(new FastifyAdapter());
    await app.init();
    await app.getHttpAdapter().getInstance().ready();
    return app;
  }
  const app = moduleRef.createNestApplication({ logger: false });
  await app.init();
  return app;
}

describe.each(['express', 'fastify'] as const)('SessionGuard end to end on %s', (adapter) => {
  let server: RedisServerProcess;
  let app: INestApplication;
  let sessions: SessionService;
  let customerToken: string;
  let adminToken: string;

  beforeAll(async () => {
    server = await startRedisServer();
    app = await fixtureApp(adapter, {
      redis: { url: server.url },
      keyPrefix: uniquePrefix(),
      storeTimeout: 0.3,
    });
    sessions = app.get(SessionService);
    customerToken = (await sessions.create(alice)).token;
    adminToken = (await sessions.create(admin)).token;
  });

  afterAll(async () => {
    await app.close();
    await server.dispose();
  });

  const http = () => request(app.getHttpServer());
  const cookie = (token: string) => `cr_session=${token}`;
  const bearer = (token: string) => `Bearer ${token}`;

  describe.each([
    ['cookie', 'Cookie', cookie],
    ['bearer', 'Authorization', bearer],
  ] as const)('with the token in a %s', (_name, header, format) => {
    it('answers 401 JSON without a session, or with a malformed or unknown one', async () => {
      for (const value of [
        undefined,
        format('not-a-token'),
        format(`cr1.${'A'.repeat(8)}.${'B'.repeat(43)}`),
      ]) {
        const call = http().get('/fixture/me');
        const res = await (value ? call.set(header, value) : call);
        expect(res.status).toBe(401);
        expect(res.body).toEqual({
          statusCode: 401,
          message: 'Authentication required',
          error: 'Unauthorized',
        });
      }
    });

    it('answers 200 with the session’s user', async () => {
      const res = await http().get('/fixture/me').set(header, format(customerToken));
      expect(res.status).toBe(200);
      expect(res.body).toEqual({ id: 'u-alice', username: 'alice', roles: ['customer'] });
    });

    it('answers 403 without the role and 200 with it', async () => {
      expect((await http().get('/fixture/admin').set(header, format(customerToken))).status).toBe(
        403,
      );
      expect((await http().get('/fixture/admin').set(header, format(adminToken))).status).toBe(200);
    });

    it('answers 401 once the session is revoked', async () => {
      const { token } = await sessions.create(alice);
      expect((await http().get('/fixture/me').set(header, format(token))).status).toBe(200);
      await sessions.revoke(token);
      expect((await http().get('/fixture/me').set(header, format(token))).status).toBe(401);
    });
  });

  it('answers 401 to two different session cookies, whichever comes first, bearer or not', async () => {
    // A browser sends the cookie set at the longest path first: one planted by a page of the
    // same host must not put the user's requests on its session.
    const me = (cookies: string[]) => http().get('/fixture/me').set('Cookie', cookies.join('; '));
    for (const cookies of [
      [cookie(adminToken), cookie(customerToken)],
      [cookie(customerToken), cookie(adminToken)],
      [cookie(`cr1.${'A'.repeat(8)}.${'B'.repeat(43)}`), cookie(customerToken)],
    ]) {
      const res = await me(cookies);
      expect(res.status).toBe(401);
      expect(res.body).toEqual({
        statusCode: 401,
        message: 'Authentication required',
        error: 'Unauthorized',
      });
    }
    const withBearer = me([cookie(adminToken), cookie(customerToken)]);
    expect((await withBearer.set('Authorization', bearer(customerToken))).status).toBe(401);
  });

  it('answers 401 to a session cookie and a bearer token that differ, whichever was planted', async () => {
    // A cookie planted for the host must not move a client that sends its own bearer token
    // onto the planter's session, nor a bearer token a cookie user's.
    for (const [inCookie, inHeader] of [
      [adminToken, customerToken],
      [customerToken, adminToken],
    ]) {
      for (const path of ['/fixture/me', '/fixture/admin']) {
        const res = await http()
          .get(path)
          .set('Cookie', cookie(inCookie))
          .set('Authorization', bearer(inHeader));
        expect(res.status).toBe(401);
        expect(res.body).toEqual({
          statusCode: 401,
          message: 'Authentication required',
          error: 'Unauthorized',
        });
      }
    }
    const same = await http()
      .get('/fixture/me')
      .set('Cookie', cookie(customerToken))
      .set('Authorization', bearer(customerToken));
    expect(same.status).toBe(200);
    expect(same.body).toMatchObject({ username: 'alice' });
  });

  it('takes a session cookie sent twice with the same value', async () => {
    const repeated = await http()
      .get('/fixture/me')
      .set('Cookie', [cookie(customerToken), 'a=1', cookie(customerToken)].join('; '));
    expect(repeated.status).toBe(200);
    expect(repeated.body).toMatchObject({ username: 'alice' });
  });

  it('lets public routes through without a session', async () => {
    expect((await http().get('/fixture/public')).status).toBe(200);
  });

  it('refuses cookie-authenticated unsafe requests from a foreign origin or cross-site', async () => {
    const post = () => http().post('/fixture/orders').set('Cookie', cookie(customerToken));
    expect((await post().set('Origin', 'https://evil.example')).status).toBe(403);
    expect((await post().set('Sec-Fetch-Site', 'cross-site')).status).toBe(403);
    expect((await post()).status).toBe(403);
    expect((await post().set('Origin', ORIGIN)).status).toBe(201);
    expect((await post().set('Sec-Fetch-Site', 'same-origin')).status).toBe(201);
    // The page of the app itself, whose origin nobody listed: the browser says same-origin.
    const own = { Origin: 'http://127.0.0.1:4200', 'Sec-Fetch-Site': 'same-origin' };
    expect((await post().set(own)).status).toBe(201);
    // A sibling subdomain is another origin; an origin listed nowhere, without the header too.
    expect((await post().set({ ...own, 'Sec-Fetch-Site': 'same-site' })).status).toBe(403);
    expect((await post().set({ Origin: 'http://127.0.0.1:4200' })).status).toBe(403);
    expect((await post().set({ Origin: 'null', 'Sec-Fetch-Site': 'none' })).status).toBe(403);
  });

  it('exempts bearer requests from the origin rule', async () => {
    const res = await http()
      .post('/fixture/orders')
      .set('Authorization', bearer(customerToken))
      .set('Origin', 'https://evil.example');
    expect(res.status).toBe(201);
    expect(res.body).toEqual({ by: 'alice' });
  });

  it('answers 503 while Redis is slower than storeTimeout', async () => {
    const pause = await pauseClients(server, 5000);
    const res = await http().get('/fixture/me').set('Authorization', bearer(customerToken));
    // Ended by the store's timeout while Redis still answered nothing, not by Redis resuming.
    expect({ status: res.status, paused: pause.on() }).toEqual({ status: 503, paused: true });
    await pause.over;
    expect(
      (await http().get('/fixture/me').set('Authorization', bearer(customerToken))).status,
    ).toBe(200);
  });

  it('answers 503 while Redis is down, keeps public routes up, and recovers by itself', async () => {
    await server.stop();
    const down = await http().get('/fixture/me').set('Authorization', bearer(customerToken));
    expect(down.status).toBe(503);
    expect(down.body).toMatchObject({ statusCode: 503 });
    expect(JSON.stringify(down.body)).not.toMatch(/at .*\.ts/);
    expect((await http().get('/fixture/public')).status).toBe(200);

    await server.start();
    // The data died with the process (no persistence): a new session proves recovery.
    let status = 0;
    for (let i = 0; i < 50 && status !== 200; i++) {
      await sleep(100);
      try {
        customerToken = (await sessions.create(alice)).token;
        status = (await http().get('/fixture/me').set('Authorization', bearer(customerToken)))
          .status;
      } catch {
        status = 0;
      }
    }
    expect(status).toBe(200);
  });
});

/**
 * Makes Redis hold every client's commands for `ms`: slower than the store timeout. `on` says
 * whether the pause still holds, `over` resolves once it ended: a command sent during it is
 * answered only then.
 */
async function pauseClients(
  server: RedisServerProcess,
  ms: number,
): Promise<{ on: () => boolean; over: Promise<void> }> {
  const client = new Redis(server.port, '127.0.0.1');
  await client.call('CLIENT', 'PAUSE', String(ms), 'ALL');
  let on = true;
  const over = client.ping().then(() => {
    on = false;
    client.disconnect();
  });
  return { on: () => on, over };
}
