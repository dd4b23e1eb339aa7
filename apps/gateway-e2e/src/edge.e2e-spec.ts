import { readFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { connect } from 'node:net';
import { join } from 'node:path';

import { BuiltApp } from '@cloakroom/e2e-support';
import { freePort } from '@cloakroom/session/testing';

import { ARTIFACTS, Stack } from './support/stack';

type Service = 'auth' | 'orders' | 'catalog';

/**
 * Every route of DESIGN §3 that takes a JSON body, with the service that serves it. Logout
 * takes none: it never reads what comes (see its own test).
 */
const JSON_ROUTES: [Service, string, string][] = [
  ['auth', 'POST', '/api/auth/login'],
  ['auth', 'POST', '/api/auth/password'],
  ['auth', 'POST', '/api/auth/reauthenticate'],
  ['auth', 'POST', '/api/auth/users'],
  ['auth', 'PUT', '/api/auth/users/1/roles'],
  ['auth', 'PUT', '/api/auth/users/1/disabled'],
  ['auth', 'POST', '/api/auth/revoke-all'],
  ['orders', 'POST', '/api/orders'],
  ['catalog', 'POST', '/api/catalog/products'],
];

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** One request with node:http: a body with Content-Length, or chunked in 16 KiB writes. */
function send(
  base: string,
  method: string,
  path: string,
  options: { body?: Buffer | string; chunked?: boolean; headers?: Record<string, string> } = {},
): Promise<Answer> {
  const body = options.body === undefined ? undefined : Buffer.from(options.body);
  const url = new URL(path, base);
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      {
        host: url.hostname,
        port: url.port,
        path: url.pathname + url.search,
        method,
        headers: {
          'content-type': 'application/json',
          ...(body && !options.chunked && { 'content-length': String(body.length) }),
          ...(body && options.chunked && { 'transfer-encoding': 'chunked' }),
          ...options.headers,
        },
      },
      (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('end', () =>
          resolve({
            status: response.statusCode ?? 0,
            headers: response.headers,
            body: Buffer.concat(chunks).toString(),
          }),
        );
      },
    );
    req.on('error', reject);
    for (let offset = 0; body && offset < body.length; offset += 16 * 1024) {
      req.write(body.subarray(offset, offset + 16 * 1024));
    }
    req.end();
  });
}

/**
 * The edge of the built stack: bad input answers 4xx on every service, directly and through
 * the gateway; the gateway sets the forwarding headers and the security headers itself.
 */
describe('the edge of the built stack', () => {
  const stack = new Stack('edge');

  beforeAll(async () => {
    await stack.start();
  }, 60_000);

  afterAll(async () => {
    await stack.stop();
  });

  const deepArray = `${'['.repeat(2_500)}${']'.repeat(2_500)}`;
  const deepObject = `${'{"a":'.repeat(2_500)}1${'}'.repeat(2_500)}`;

  it.each(JSON_ROUTES)(
    'answers 400 to JSON nested 2,500 deep on %s %s %s, through the gateway and directly',
    async (service, method, path) => {
      for (const base of [stack.baseUrl, stack.url(service)]) {
        for (const body of [deepArray, deepObject]) {
          const answer = await send(base, method, path, { body });
          expect({ path, status: answer.status, body: JSON.parse(answer.body) }).toEqual({
            path,
            status: 400,
            body: { statusCode: 400, message: 'JSON body nested too deep' },
          });
        }
      }
    },
  );

  it('answers malformed JSON with 400 and a fixed message that does not echo the input', async () => {
    for (const [service, method, path] of JSON_ROUTES) {
      for (const base of [stack.baseUrl, stack.url(service)]) {
        const answer = await send(base, method, path, { body: '{"username": "x", SECRET' });
        expect(answer.status).toBe(400);
        expect(JSON.parse(answer.body)).toEqual({
          statusCode: 400,
          message: 'Malformed JSON body',
        });
      }
    }
  });

  it('answers logout 204 with a cleared cookie whatever body comes, through the gateway and directly', async () => {
    for (const base of [stack.baseUrl, stack.url('auth')]) {
      for (const body of [deepArray, deepObject, '{"username": "x", SECRET']) {
        const answer = await send(base, 'POST', '/api/auth/logout', { body });
        expect({ base, status: answer.status, body: answer.body }).toEqual({
          base,
          status: 204,
          body: '',
        });
        expect(String(answer.headers['set-cookie'])).toMatch(/^cr_session=;/);
      }
    }
  });

  it('wrote no stack trace to any log while refusing bad bodies', () => {
    for (const app of ['auth', 'orders', 'catalog', 'gateway']) {
      const log = readFileSync(join(ARTIFACTS, `edge-${app}.log`), 'utf8');
      expect({ app, stack: /\n\s+at |RangeError|Maximum call stack/.test(log) }).toEqual({
        app,
        stack: false,
      });
    }
  });

  it.each([false, true])(
    'answers 413 to a 1 MiB body on each service, never 502 or 504 (chunked: %s)',
    async (chunked) => {
      const body = Buffer.alloc(1024 * 1024, ' ');
      const statuses = new Set<number>();
      for (let attempt = 0; attempt < 5; attempt++) {
        for (const [service, method, path] of [
          ['auth', 'POST', '/api/auth/login'],
          ['orders', 'POST', '/api/orders'],
          ['catalog', 'POST', '/api/catalog/products'],
        ] as const) {
          statuses.add((await send(stack.baseUrl, method, path, { body, chunked })).status);
          if (attempt === 0) {
            statuses.add((await send(stack.url(service), method, path, { body, chunked })).status);
          }
        }
      }
      expect([...statuses]).toEqual([413]);
    },
  );

  it('sends nosniff, a Referrer-Policy, no-store and no X-Powered-By on each kind of route', async () => {
    const login = await send(stack.baseUrl, 'POST', '/api/auth/login', {
      body: JSON.stringify({ username: 'alice', password: 'alice-password', transport: 'bearer' }),
    });
    expect(login.status).toBe(200);
    const bearer = { authorization: `Bearer ${JSON.parse(login.body).token}` };
    const routes: [Service | 'gateway', string, Record<string, string>][] = [
      ['auth', '/api/auth/session', bearer],
      ['auth', '/api/auth/session', {}],
      ['auth', '/api/auth/demo-users', {}],
      ['orders', '/api/orders', bearer],
      ['orders', '/api/orders/nope', bearer],
      ['catalog', '/api/catalog/products', {}],
      ['catalog', '/api/catalog/health', {}],
      ['gateway', '/api/gateway/health', {}],
    ];
    for (const [service, path, headers] of routes) {
      for (const base of [stack.baseUrl, stack.url(service)]) {
        const answer = await send(base, 'GET', path, { headers });
        expect({ base, path, headers: pick(answer.headers) }).toEqual({
          base,
          path,
          headers: {
            'x-content-type-options': 'nosniff',
            'referrer-policy': base === stack.baseUrl ? expect.any(String) : 'no-referrer',
            // Health checks (terminus) add `no-cache, must-revalidate`.
            'cache-control': expect.stringMatching(/(^|, )no-store(,|$)/),
            'x-powered-by': undefined,
            'strict-transport-security': undefined,
          },
        });
      }
    }
    const page = await send(stack.baseUrl, 'GET', '/');
    expect(page.headers['x-content-type-options']).toBe('nosniff');
    expect(page.headers['x-powered-by']).toBeUndefined();
  });

  it('answers a refused WebSocket upgrade with the JSON error, nosniff and no-store of /api/*', async () => {
    const upgrade = {
      connection: 'Upgrade',
      upgrade: 'websocket',
      'sec-websocket-version': '13',
      'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==',
    };
    // Refused by the gateway (no such service, a route kept off the edge), then by orders,
    // which serves no WebSocket there: through the gateway and directly.
    for (const [base, path] of [
      [stack.baseUrl, '/api/nothing/ws'],
      [stack.baseUrl, '/api/orders/metrics'],
      [stack.baseUrl, '/api/orders/nope'],
      [stack.url('orders'), '/api/orders/nope'],
    ]) {
      const answer = await send(base, 'GET', path, { headers: upgrade });
      expect({
        base,
        path,
        status: answer.status,
        nosniff: answer.headers['x-content-type-options'],
        cacheControl: answer.headers['cache-control'],
        body: JSON.parse(answer.body),
      }).toEqual({
        base,
        path,
        status: 404,
        nosniff: 'nosniff',
        cacheControl: 'no-store',
        body: { statusCode: 404, message: 'Not Found' },
      });
    }
  });

  it('tells the services the client address, whatever the client claims', async () => {
    const login = await send(stack.baseUrl, 'POST', '/api/auth/login', {
      body: JSON.stringify({ username: 'bob', password: 'bob-password', transport: 'bearer' }),
      headers: {
        'x-forwarded-for': '203.0.113.7',
        forwarded: 'for=203.0.113.8',
        'x-real-ip': '203.0.113.9',
      },
    });
    expect(login.status).toBe(200);
    const sessions = await send(stack.baseUrl, 'GET', '/api/auth/sessions', {
      headers: { authorization: `Bearer ${JSON.parse(login.body).token}` },
    });
    const mine = (JSON.parse(sessions.body) as { ip: string; current: boolean }[]).find(
      (session) => session.current,
    );
    expect(mine?.ip).toMatch(/127\.0\.0\.1$/);
  });

  it('lets no body framed past 2,000 header lines reach auth as a login of its own', async () => {
    // Node shows an app the first 2,000 header lines and frames the body by the rest as well:
    // a proxy told of no body wrote it on its kept-alive connection to auth, unframed.
    const credentials = { username: 'alice', password: 'alice-password', transport: 'bearer' };
    const login = JSON.stringify(credentials);
    const hidden =
      'POST /api/auth/login HTTP/1.1\r\nHost: auth\r\nX-Forwarded-For: 203.0.113.66\r\n' +
      `Content-Type: application/json\r\nContent-Length: ${login.length}\r\n\r\n${login}`;
    const filler = Array.from({ length: 2000 }, (_, index) => `f${index % 10}:\r\n`).join('');
    const answer = await new Promise<string>((resolve) => {
      const socket = connect({ host: '127.0.0.1', port: stack.ports.gateway });
      let text = '';
      socket.on('data', (chunk: Buffer) => (text += chunk.toString('latin1')));
      socket.on('error', () => undefined);
      socket.on('close', () => resolve(text));
      socket.write(
        `GET /api/auth/demo-users HTTP/1.1\r\nHost: 127.0.0.1:${stack.ports.gateway}\r\n` +
          `Connection: close\r\n${filler}Content-Length: ${hidden.length}\r\n\r\n${hidden}`,
      );
    });
    // The next client on the gateway's connection to auth gets its own answer, not the login.
    const bob = await stack.login('bob', 'bob-password');
    const session = await stack.call(bob, 'GET', '/api/auth/session');
    expect(((await session.json()) as { user: { username: string } }).user.username).toBe('bob');
    // Auth logged no one in from the address the hidden request claimed.
    const alice = await stack.login('alice', 'alice-password');
    const sessions = (await (await stack.call(alice, 'GET', '/api/auth/sessions')).json()) as {
      ip: string;
    }[];
    expect(sessions.map(({ ip }) => ip)).not.toContain('203.0.113.66');
    expect(answer).toMatch(/^HTTP\/1\.1 431 /);
  });

  it('answers CONNECT with a JSON 405, and serves an absolute-form target naming the gateway', async () => {
    const host = `127.0.0.1:${stack.ports.gateway}`;
    const raw = (head: string) =>
      new Promise<string>((resolve) => {
        const socket = connect({ host: '127.0.0.1', port: stack.ports.gateway });
        let text = '';
        socket.on('data', (chunk: Buffer) => (text += chunk.toString('latin1')));
        socket.on('error', () => undefined);
        socket.on('close', () => resolve(text));
        socket.write(head);
      });
    const tunnel = await raw(
      `CONNECT 127.0.0.1:${stack.ports.auth} HTTP/1.1\r\nHost: ${host}\r\n\r\n`,
    );
    expect(tunnel).toMatch(
      /^HTTP\/1\.1 405 .*\r\nAllow: GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS\r\n/s,
    );
    expect(tunnel).toContain('{"statusCode":405,"message":"CONNECT is not served here"}');
    const absolute = await raw(
      `GET http://${host}/api/catalog/products HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`,
    );
    expect(absolute).toMatch(/^HTTP\/1\.1 200 /);
    const foreign = await raw(
      `GET http://evil.example/api/catalog/products HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`,
    );
    expect(foreign).toMatch(/^HTTP\/1\.1 421 /);
  });

  it('shows the web page the demo users that exist', async () => {
    const demo = await send(stack.baseUrl, 'GET', '/api/auth/demo-users');
    expect(JSON.parse(demo.body)).toEqual({ usernames: ['alice', 'bob', 'admin'] });
  });

  it.each(['Production', 'prod', ''])(
    'keeps the gateway from starting with NODE_ENV=%j, in one line',
    async (value) => {
      const result = await new BuiltApp('gateway').runToExit(
        { NODE_ENV: value, PORT: String(await freePort()) },
        stack.dir,
      );
      expect(result.code).toBe(1);
      expect(result.stderr.trim().split('\n')).toEqual([
        expect.stringMatching(/^gateway: cannot start: invalid configuration: NODE_ENV must be/),
      ]);
    },
  );
});

function pick(headers: Answer['headers']) {
  return {
    'x-content-type-options': headers['x-content-type-options'],
    'referrer-policy': headers['referrer-policy'],
    'cache-control': headers['cache-control'],
    'x-powered-by': headers['x-powered-by'],
    'strict-transport-security': headers['strict-transport-security'],
  };
}
