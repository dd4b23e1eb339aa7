import { connect } from 'node:net';

import { All, Controller, Get, INestApplication, Post } from '@nestjs/common';
import { APP_GUARD } from '@nestjs/core';
import { FastifyAdapter, NestFastifyApplication } from '@nestjs/platform-fastify';
import { Test } from '@nestjs/testing';

import { CurrentUser, SessionGuard, SessionModule, SessionService, SessionUser } from '../src';
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
}

interface RawAnswer {
  status: number;
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
      resolve({ status, body: text.slice(text.indexOf('\r\n\r\n') + 4) });
    });
  });
}

async function fixtureApp(adapter: 'express' | 'fastify', redisUrl: string) {
  const moduleRef = await Test.createTestingModule({
    imports: [
      SessionModule.forRoot({
        redis: { url: redisUrl },
        keyPrefix: uniquePrefix(),
        allowedOrigins: [ORIGIN],
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
        const answer = await get(`Cookie: a=1; cr_session=${value}; b=2`);
        expect({ value, ...answer }).toEqual({ value, status: 200, body: '{"username":"alice"}' });
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
  },
);
