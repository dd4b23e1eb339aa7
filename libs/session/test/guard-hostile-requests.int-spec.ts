import { connect } from 'node:net';

import { All, Controller, Get, Header, INestApplication, Post } from '@nestjs/common';
import { APP_GUARD } from '@nestjs/core';
import { FastifyAdapter, NestFastifyApplication } from '@nestjs/platform-fastify';
import { Test } from '@nestjs/testing';

import {
  CurrentUser,
  Public,
  Roles,
  SessionGuard,
  SessionModule,
  SessionService,
  SessionUser,
} from '../src';
import { RedisServerProcess, startRedisServer, watchRedisCommands } from '../src/testing';
import { admin, alice, uniquePrefix } from './store-contract';

jest.setTimeout(30_000);

const ORIGIN = 'http://localhost:3000';

@Controller('fixture')
class FixtureController {
  @Get('me')
  me(@CurrentUser() user: SessionUser) {
    return { username: user.username };
  }

  @Post('orders')
  order(@CurrentUser() user: SessionUser) {
    return { by: user.username };
  }

  @All('any')
  any(@CurrentUser() user: SessionUser) {
    return { by: user.username };
  }

  @Roles('admin')
  @Get('admin')
  admin(@CurrentUser() user: SessionUser) {
    return { username: user.username };
  }

  @Get('cacheable')
  @Header('Cache-Control', 'private, max-age=60')
  cacheable(@CurrentUser() user: SessionUser) {
    return { username: user.username };
  }

  @Public()
  @Get('public')
  open() {
    return { open: true };
  }
}

interface RawAnswer {
  status: number;
  /** Header names in lower case; a repeated header's values joined with `, `. */
  headers: Record<string, string>;
  body: string;
}

/**
 * One request written byte for byte: duplicate headers, tabs and Latin-1 bytes reach the server
 * as sent, which an HTTP client library would merge or refuse.
 */
function rawRequest(port: number, head: string[]): Promise<RawAnswer> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => {
      socket.write(
        Buffer.from(
          [...head, 'Host: localhost', 'Connection: close', '', ''].join('\r\n'),
          'latin1',
        ),
      );
    });
    const chunks: Buffer[] = [];
    socket.on('data', (chunk) => chunks.push(chunk));
    socket.on('error', reject);
    socket.on('close', () => {
      const text = Buffer.concat(chunks).toString('latin1');
      const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0);
      const end = text.indexOf('\r\n\r\n');
      const headers: Record<string, string> = {};
      for (const line of text.slice(0, end).split('\r\n').slice(1)) {
        const colon = line.indexOf(':');
        const name = line.slice(0, colon).toLowerCase();
        const value = line.slice(colon + 1).trim();
        headers[name] = name in headers ? `${headers[name]}, ${value}` : value;
      }
      resolve({ status, headers, body: text.slice(end + 4) });
    });
  });
}

async function fixtureApp(adapter: 'express' | 'fastify', redisUrl: string, storeTimeout?: number) {
  const moduleRef = await Test.createTestingModule({
    imports: [
      SessionModule.forRoot({
        redis: { url: redisUrl },
        keyPrefix: uniquePrefix(),
        allowedOrigins: [ORIGIN],
        storeTimeout,
      }),
    ],
    controllers: [FixtureController],
    providers: [{ provide: APP_GUARD, useClass: SessionGuard }],
  }).compile();
  const app =
    adapter === 'fastify'
      ? moduleRef.createNestApplication<NestFastifyApplication>(new FastifyAdapter(), {
          logger: false,
        })
      : moduleRef.createNestApplication({ logger: false });
  await app.listen(0, '127.0.0.1');
  return app;
}

describe.each(['express', 'fastify'] as const)(
  'SessionGuard against hostile requests on %s',
  (adapter) => {
    let server: RedisServerProcess;
    let app: INestApplication;
    let port: number;
    let own: string;
    let other: string;

    beforeAll(async () => {
      server = await startRedisServer();
      app = await fixtureApp(adapter, server.url);
      port = app.getHttpServer().address().port;
      const sessions = app.get(SessionService);
      own = (await sessions.create(alice)).token;
      other = (await sessions.create(admin)).token;
    });

    afterAll(async () => {
      await app?.close();
      await server?.dispose();
    });

    const get = (...headers: string[]) =>
      rawRequest(port, ['GET /fixture/me HTTP/1.1', ...headers]);
    const post = (...headers: string[]) =>
      rawRequest(port, ['POST /fixture/orders HTTP/1.1', 'Content-Length: 0', ...headers]);

    /** Scripts Redis ran on a session key while `act` did: a validation is one. */
    async function validationsDuring(act: () => Promise<unknown>): Promise<number> {
      const watch = await watchRedisCommands(
        server.url,
        ([command, ...args]) =>
          /^(evalsha|eval|evalsha_ro|eval_ro|fcall|fcall_ro)$/i.test(command) &&
          args.some((arg) => arg.includes('}:s:')),
      );
      await act();
      return (await watch.stop()).length;
    }

    it('refuses tokens of the right prefix but the wrong length or alphabet with 401, before any Redis call', async () => {
      const tag = own.slice(4, 12);
      const secret = own.slice(13);
      const malformed = [
        `cr1.${tag}.${secret.slice(1)}`,
        `cr1.${tag}.${secret}A`,
        `cr1.${tag}.${secret.slice(0, -1)}=`,
        `cr1.${tag}.${secret.slice(0, -2)}+/`,
        `cr1.${tag.slice(1)}.${secret}A`,
        `cr1.${tag}..${secret.slice(1)}`,
        `CR1.${tag}.${secret}`,
        `cr2.${tag}.${secret}`,
        `cr1.${tag}.${secret.slice(0, -1)}\xe9`,
        `cr1.${tag}.${secret.slice(0, -1)}\xa0`,
        `cr1.${tag}.${secret.slice(0, -1)}%ZZ`,
        `cr1.${tag}.${secret.slice(0, -1)}%`,
      ];
      const answers: RawAnswer[] = [];
      const validations = await validationsDuring(async () => {
        for (const token of malformed) {
          answers.push(await get(`Cookie: cr_session=${token}`));
          answers.push(await get(`Authorization: Bearer ${token}`));
        }
      });
      expect(answers.map(({ status }) => status)).toEqual(answers.map(() => 401));
      expect(validations).toBe(0);
      // The count sees a validation when one happens.
      expect(await validationsDuring(() => get(`Authorization: Bearer ${own}`))).toBe(1);
    });

    it('reads a percent-encoded or padded session cookie as its token, a quoted one as another value', async () => {
      for (const value of [own.replace('.', '%2E'), ` ${own} `, `${own}\t`]) {
        const { status, body } = await get(`Cookie: a=1; cr_session=${value}; b=2`);
        expect({ value, status, body }).toEqual({
          value,
          status: 200,
          body: '{"username":"alice"}',
        });
      }
      expect(
        (await get(`Cookie: cr_session=${own.replace('.', '%2E')}; cr_session=${own}`)).status,
      ).toBe(200);
      // RFC 6265 keeps the quotes in the value: no token, and next to the plain one, two values.
      expect((await get(`Cookie: cr_session="${own}"`)).status).toBe(401);
      expect((await get(`Cookie: cr_session="${own}"; cr_session=${own}`)).status).toBe(401);
    });

    it('refuses different session cookies in two Cookie headers, and takes the same one twice', async () => {
      expect((await get(`Cookie: cr_session=${own}`, `Cookie: cr_session=${other}`)).status).toBe(
        401,
      );
      expect((await get(`Cookie: cr_session=${other}`, `Cookie: cr_session=${own}`)).status).toBe(
        401,
      );
      // Planted under another spelling of the name: a different cookie for the browser, ignored.
      expect((await get(`Cookie: cr_session=${own}`, `Cookie: CR_SESSION=${other}`)).status).toBe(
        200,
      );
      expect((await get(`Cookie: cr_session=${own}`, `Cookie: xcr_session=${other}`)).status).toBe(
        200,
      );
      expect((await get(`Cookie: cr_session=${own}`, `Cookie: cr_session=${own}`)).status).toBe(
        200,
      );
    });

    it('finds the session cookie in a long Cookie header, and refuses many values of it', async () => {
      const filler = Array.from({ length: 300 }, (_, i) => `c${i}=${'x'.repeat(20)}`).join('; ');
      expect((await get(`Cookie: ${filler}; cr_session=${own}`)).status).toBe(200);
      const many = Array.from({ length: 600 }, (_, i) => `cr_session=v${i}`).join('; ');
      expect((await get(`Cookie: ${many}; cr_session=${own}`)).status).toBe(401);
    });

    it('reads the bearer scheme in any case and after several spaces, not after a tab', async () => {
      expect((await get(`Authorization: bearer ${own}`)).status).toBe(200);
      expect((await get(`Authorization: BEARER ${own}`)).status).toBe(200);
      expect((await get(`Authorization: Bearer  ${own}`)).status).toBe(200);
      expect((await get(`Authorization: Bearer\t${own}`)).status).toBe(401);
      expect((await get('Authorization: Bearer')).status).toBe(401);
      expect((await get(`Authorization: Bearer ${own} ${other}`)).status).toBe(401);
      expect((await get(`Authorization: Bearer ${own}, Bearer ${other}`)).status).toBe(401);
      expect((await get(`Authorization: Basic ${own}`)).status).toBe(401);
    });

    it('applies the origin rule to a token sent both as cookie and bearer', async () => {
      const both = [`Cookie: cr_session=${own}`, `Authorization: Bearer ${own}`];
      expect((await post(...both, 'Origin: https://evil.example')).status).toBe(403);
      expect((await post(...both, `Origin: ${ORIGIN}`)).status).toBe(201);
    });

    it('refuses a cookie POST whose Origin only looks like an allowed one', async () => {
      const cookie = `Cookie: cr_session=${own}`;
      for (const origin of [
        `${ORIGIN}/`,
        'http://localhost:3000:80',
        'HTTP://LOCALHOST:3000',
        'http://localhost',
        'https://localhost:3000',
        'http://localhost:3000.evil.example',
        'null',
        '',
      ]) {
        const answer = await post(cookie, `Origin: ${origin}`);
        expect({ origin, status: answer.status }).toEqual({ origin, status: 403 });
      }
      // Two Origin headers arrive as one list, which is no origin.
      expect((await post(cookie, `Origin: ${ORIGIN}`, 'Origin: https://evil.example')).status).toBe(
        403,
      );
      expect((await post(cookie, `Origin: ${ORIGIN}`, `Origin: ${ORIGIN}`)).status).toBe(403);
      expect((await post(cookie, `Origin: ${ORIGIN}`)).status).toBe(201);
    });

    it('weighs Sec-Fetch-Site and Referer as the rule says', async () => {
      const cookie = `Cookie: cr_session=${own}`;
      // An allowed origin of the same site, or one without the header at all, is allowed.
      expect((await post(cookie, `Origin: ${ORIGIN}`, 'Sec-Fetch-Site: same-site')).status).toBe(
        201,
      );
      expect((await post(cookie, `Origin: ${ORIGIN}`, 'Sec-Fetch-Site: cross-site')).status).toBe(
        403,
      );
      expect((await post(cookie, 'Sec-Fetch-Site: same-site')).status).toBe(403);
      expect((await post(cookie, 'Sec-Fetch-Site: none')).status).toBe(403);
      expect((await post(cookie, 'Sec-Fetch-Site: Same-Origin')).status).toBe(403);
      // A Referer is not an Origin: a request without one is refused whatever it says.
      expect((await post(cookie, `Referer: ${ORIGIN}/page`)).status).toBe(403);
    });

    it('treats every method but GET, HEAD and OPTIONS as unsafe, and ignores method overrides', async () => {
      const cookie = `Cookie: cr_session=${own}`;
      const foreign = 'Origin: https://evil.example';
      // Fastify routes no PROPFIND to `@All()`: 404 before the guard, never the handler.
      const refused = adapter === 'fastify' ? { PROPFIND: 404 } : {};
      for (const method of ['PROPFIND', 'PATCH', 'PUT', 'DELETE', 'POST'] as const) {
        const answer = await rawRequest(port, [
          `${method} /fixture/any HTTP/1.1`,
          'Content-Length: 0',
          cookie,
          foreign,
        ]);
        const status = method === 'PROPFIND' ? (refused.PROPFIND ?? 403) : 403;
        expect({ method, status: answer.status }).toEqual({ method, status });
      }
      // Node refuses a method spelled in lower case before any route sees it.
      expect(
        (await rawRequest(port, ['patch /fixture/any HTTP/1.1', cookie, foreign])).status,
      ).toBe(400);
      for (const override of [
        'X-HTTP-Method-Override: GET',
        'X-HTTP-Method: GET',
        'X-Method-Override: GET',
      ]) {
        const answer = await post(cookie, foreign, override);
        expect({ override, status: answer.status }).toEqual({ override, status: 403 });
      }
      expect((await rawRequest(port, ['HEAD /fixture/any HTTP/1.1', cookie, foreign])).status).toBe(
        200,
      );
    });

    it('refuses two Authorization headers with 401, whichever comes first and whatever they say', async () => {
      const pairs = [
        [`Authorization: Bearer ${own}`, `Authorization: Bearer ${other}`],
        [`Authorization: Bearer ${other}`, `Authorization: Bearer ${own}`],
        [`Authorization: Bearer ${own}`, `Authorization: Bearer ${own}`],
        [`Authorization: Bearer ${own}`, 'Authorization: Basic YWxpY2U6eA=='],
        ['authorization: Basic YWxpY2U6eA==', `AUTHORIZATION: Bearer ${own}`],
        [`Authorization: Bearer ${own}`, 'Authorization: Bearer'],
        [`Cookie: cr_session=${own}`, `Authorization: Bearer ${own}`, 'Authorization: x'],
      ];
      const answers: Array<{ pair: string[]; status: number }> = [];
      const validations = await validationsDuring(async () => {
        for (const pair of pairs) {
          answers.push({ pair, status: (await get(...pair)).status });
        }
      });
      expect(answers).toEqual(pairs.map((pair) => ({ pair, status: 401 })));
      // Refused on the headers alone: nothing was asked of Redis.
      expect(validations).toBe(0);
      // A lone Authorization header next to a Cookie header is still read.
      expect((await get(`Cookie: a=1`, `Authorization: Bearer ${own}`)).status).toBe(200);
    });

    it('still refuses a second bearer token joined by a comma, and a cookie of another session', async () => {
      expect((await get(`Authorization: Bearer ${own},Bearer ${other}`)).status).toBe(401);
      expect((await get(`Authorization: Bearer ${own}, ${other}`)).status).toBe(401);
      expect(
        (await get(`Cookie: cr_session=${other}`, `Authorization: Bearer ${own}`)).status,
      ).toBe(401);
    });

    it('marks every answer of a guarded route no-store: 401, 403 and 200, GET and HEAD', async () => {
      const cookie = `Cookie: cr_session=${own}`;
      const answers = {
        none: await get(),
        malformed: await get('Authorization: Bearer cr1.nonsense'),
        unknown: await get(`Authorization: Bearer ${own.slice(0, -4)}AAAA`),
        twoHeaders: await get(`Authorization: Bearer ${own}`, `Authorization: Bearer ${own}`),
        role: await rawRequest(port, ['GET /fixture/admin HTTP/1.1', cookie]),
        origin: await post(cookie, 'Origin: https://evil.example'),
        ok: await get(cookie),
        posted: await post(cookie, `Origin: ${ORIGIN}`),
        headRefused: await rawRequest(port, ['HEAD /fixture/me HTTP/1.1']),
        headOk: await rawRequest(port, ['HEAD /fixture/me HTTP/1.1', cookie]),
      };
      const seen = Object.fromEntries(
        Object.entries(answers).map(([name, { status, headers }]) => [
          name,
          { status, cacheControl: headers['cache-control'] },
        ]),
      );
      const noStore = (status: number) => ({ status, cacheControl: 'no-store' });
      expect(seen).toEqual({
        none: noStore(401),
        malformed: noStore(401),
        unknown: noStore(401),
        twoHeaders: noStore(401),
        role: noStore(403),
        origin: noStore(403),
        ok: noStore(200),
        posted: noStore(201),
        headRefused: noStore(401),
        headOk: noStore(200),
      });
    });

    it("keeps a route's own Cache-Control, and leaves public routes to the app", async () => {
      const cacheable = await rawRequest(port, [
        'GET /fixture/cacheable HTTP/1.1',
        `Authorization: Bearer ${own}`,
      ]);
      expect({
        status: cacheable.status,
        cacheControl: cacheable.headers['cache-control'],
      }).toEqual({
        status: 200,
        cacheControl: 'private, max-age=60',
      });
      const open = await rawRequest(port, ['GET /fixture/public HTTP/1.1']);
      expect({ status: open.status, cacheControl: open.headers['cache-control'] }).toEqual({
        status: 200,
        cacheControl: undefined,
      });
    });

    it('marks the 503 of a store that is down no-store', async () => {
      const down = await startRedisServer();
      const downApp = await fixtureApp(adapter, down.url, 0.3);
      try {
        const token = (await downApp.get(SessionService).create(alice)).token;
        await down.stop();
        const answer = await rawRequest(downApp.getHttpServer().address().port, [
          'GET /fixture/me HTTP/1.1',
          `Authorization: Bearer ${token}`,
        ]);
        expect({ status: answer.status, cacheControl: answer.headers['cache-control'] }).toEqual({
          status: 503,
          cacheControl: 'no-store',
        });
      } finally {
        await downApp.close();
        await down.dispose();
      }
    });

    it('refuses a 15 KB token, as bearer or cookie, and 800 values of the cookie with 401 before any Redis call', async () => {
      const long = `${own}${'A'.repeat(15_000)}`;
      const packed = Array.from({ length: 800 }, (_, i) => `cr_session=v${i}`);
      const statuses: number[] = [];
      const validations = await validationsDuring(async () => {
        statuses.push((await get(`Authorization: Bearer ${long}`)).status);
        statuses.push((await get(`Cookie: cr_session=${long}`)).status);
        statuses.push((await get(`Cookie: ${packed.join('; ')}`)).status);
      });
      expect({ statuses, validations }).toEqual({ statuses: [401, 401, 401], validations: 0 });
      // Past Node's header limit the request never reaches the guard.
      expect((await get(`Authorization: Bearer ${own}${'A'.repeat(20_000)}`)).status).toBe(431);
    });

    it('lets HEAD and OPTIONS with a cookie through as safe methods, and refuses them without a session', async () => {
      const cookie = `Cookie: cr_session=${own}`;
      const foreign = 'Origin: https://evil.example';
      const head = await rawRequest(port, ['HEAD /fixture/me HTTP/1.1', cookie, foreign]);
      expect({ status: head.status, body: head.body }).toEqual({ status: 200, body: '' });
      const options = await rawRequest(port, ['OPTIONS /fixture/any HTTP/1.1', cookie, foreign]);
      expect({ status: options.status, body: options.body }).toEqual({
        status: 200,
        body: '{"by":"alice"}',
      });
      for (const method of ['HEAD /fixture/me', 'OPTIONS /fixture/any']) {
        const refused = await rawRequest(port, [`${method} HTTP/1.1`, 'Cookie: cr_session=x']);
        expect({ method, status: refused.status }).toEqual({ method, status: 401 });
      }
    });
  },
);
