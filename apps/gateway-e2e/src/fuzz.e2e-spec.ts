import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { Agent, request as httpRequest } from 'node:http';
import { join } from 'node:path';
import fc from 'fast-check';

import { waitForStatus } from '@cloakroom/e2e-support';

import { ARTIFACTS, Stack } from './support/stack';

/** Every route of DESIGN §3 (those not built yet answer 404), plus the page and health checks. */
const ROUTES: [string, string][] = [
  ['POST', '/api/auth/login'],
  ['POST', '/api/auth/logout'],
  ['GET', '/api/auth/session'],
  ['GET', '/api/auth/sessions'],
  ['DELETE', '/api/auth/sessions/:id'],
  ['DELETE', '/api/auth/sessions'],
  ['POST', '/api/auth/password'],
  ['POST', '/api/auth/users'],
  ['PUT', '/api/auth/users/:id/roles'],
  ['DELETE', '/api/auth/users/:id/sessions'],
  ['POST', '/api/auth/reauthenticate'],
  ['GET', '/api/auth/activity'],
  ['GET', '/api/auth/users'],
  ['GET', '/api/auth/users/:id/sessions'],
  ['DELETE', '/api/auth/users/:id/sessions/:id'],
  ['PUT', '/api/auth/users/:id/disabled'],
  ['POST', '/api/auth/revoke-all'],
  ['GET', '/api/auth/users/:id/activity'],
  ['GET', '/api/auth/demo-users'],
  ['GET', '/api/auth/docs'],
  ['GET', '/api/orders'],
  ['POST', '/api/orders'],
  ['GET', '/api/orders/:id'],
  ['POST', '/api/orders/graphql'],
  ['GET', '/api/catalog/products'],
  ['POST', '/api/catalog/products'],
  ['GET', '/api/auth/health'],
  ['GET', '/api/orders/health'],
  ['GET', '/api/catalog/health'],
  ['GET', '/api/gateway/health'],
  ['GET', '/'],
  ['GET', '/app.js'],
];

/** Requests sent by the property (shrinking, if a request fails, sends more). */
const RUNS = 2_000;

/** Field names the routes read, and some that objects should never take from a body. */
const FIELDS = [
  'username',
  'password',
  'transport',
  'rememberMe',
  'currentPassword',
  'newPassword',
  'roles',
  'disabled',
  'items',
  'sku',
  'quantity',
  'name',
  'priceCents',
  'query',
  'variables',
  '__proto__',
  'constructor',
  'prototype',
];

interface FuzzRequest {
  method: string;
  path: string;
  headers: Record<string, string>;
  body?: Buffer;
}

interface Answer {
  status: number;
  body: string;
}

/** Characters Node lets through in a header value: printable ASCII and Latin-1. */
const headerText = (maxLength: number) =>
  fc.string({
    unit: fc
      .oneof(fc.integer({ min: 0x20, max: 0x7e }), fc.integer({ min: 0xa0, max: 0xff }))
      .map((code) => String.fromCharCode(code)),
    maxLength,
  });

/** Path segments: ids, unicode (encoded), raw Latin-1 bytes (invalid UTF-8), bad escapes. */
const segment = fc.oneof(
  fc.uuid(),
  fc.nat().map(String),
  fc.string({ unit: 'grapheme', maxLength: 20 }).map(encodeURIComponent),
  fc
    .string({
      unit: fc.integer({ min: 0x21, max: 0xff }).map((code) => String.fromCharCode(code)),
      maxLength: 12,
    })
    .map((text) => text.replace(/[/?#%]/g, '')),
  fc.constantFrom('..', '%2e%2e', '%FF', '%00', '%', '%G1', '%C0%AF', '', 'null', '-1', '1e309'),
  fc.integer({ min: 1_000, max: 6_000 }).map((length) => 'a'.repeat(length)),
);

const query = fc.option(
  fc
    .array(
      fc.tuple(
        fc.constantFrom('cursor', 'limit', 'search', 'limit[$gt]', 'search[]', '__proto__'),
        fc.oneof(segment, fc.constantFrom('-1', '0', '201', '1e309', 'NaN', '[]')),
      ),
      { minLength: 1, maxLength: 4 },
    )
    .map((pairs) => `?${pairs.map(([key, value]) => `${key}=${value}`).join('&')}`),
  { nil: '' },
);

/** A route of the table, its parameters and query fuzzed, now and then its method too. */
const target = fc
  .tuple(
    fc.constantFrom(...ROUTES),
    fc.array(segment, { minLength: 3, maxLength: 3 }),
    query,
    fc.option(fc.constantFrom('GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS', 'HEAD'), {
      freq: 4,
    }),
    fc.constantFrom('', '', '', '/', '//x', '/..', '/%2e%2e/auth'),
  )
  .map(([[method, template], params, search, otherMethod, suffix]) => {
    let index = 0;
    const path = template.replace(/:id/g, () => params[index++] || 'x');
    return { method: otherMethod ?? method, path: `${path}${suffix}${search}` };
  });

const jsonish: fc.Arbitrary<unknown> = fc.oneof(
  fc.jsonValue({ maxDepth: 3 }),
  fc.string({ unit: 'binary', maxLength: 40 }),
  fc.constantFrom(-1, 0, 1e308, -1e308, 2 ** 53 + 1, true, null, '', 'customer', 'admin', []),
  fc.array(fc.record({ sku: fc.string(), quantity: fc.oneof(fc.integer(), fc.string()) })),
);

/** Bodies: deep JSON, huge strings, wrong types, unicode, invalid UTF-8 and invalid JSON. */
const body: fc.Arbitrary<{ type?: string; encoding?: string; bytes?: Buffer }> = fc.oneof(
  fc.constant({}),
  fc
    .tuple(fc.integer({ min: 33, max: 5_000 }), fc.constantFrom('[', '{"a":', '{"items":['))
    .map(([depth, open]) => {
      const close = open === '[' ? ']' : open === '{"a":' ? '}' : ']}';
      return {
        type: 'application/json',
        bytes: Buffer.from(open.repeat(depth) + close.repeat(depth)),
      };
    }),
  fc.dictionary(fc.constantFrom(...FIELDS), jsonish, { maxKeys: 5 }).map((fields) => ({
    type: 'application/json',
    bytes: Buffer.from(JSON.stringify(fields)),
  })),
  fc
    .tuple(fc.constantFrom(...FIELDS), fc.integer({ min: 10_000, max: 120_000 }))
    .map(([field, length]) => ({
      type: 'application/json',
      bytes: Buffer.from(JSON.stringify({ [field]: 'x'.repeat(length) })),
    })),
  fc.string({ unit: 'binary', maxLength: 200 }).map((text) => ({
    type: 'application/json',
    bytes: Buffer.from(JSON.stringify({ username: text, password: text })),
  })),
  fc.uint8Array({ maxLength: 2_000 }).map((bytes) => ({
    type: 'application/json',
    bytes: Buffer.from(bytes),
  })),
  fc.tuple(fc.jsonValue({ maxDepth: 4 }), fc.nat()).map(([value, cut]) => {
    const text = JSON.stringify(value) ?? 'null';
    return {
      type: 'application/json',
      bytes: Buffer.from(text.slice(0, cut % (text.length + 1)) + ','),
    };
  }),
  fc
    .tuple(
      fc.constantFrom(
        'application/json; charset=utf-16le',
        'application/json; charset=latin1',
        'text/plain',
        'application/x-www-form-urlencoded',
        'multipart/form-data; boundary=x',
        'application/graphql',
        '*/*',
        'application/json;;;',
      ),
      fc.oneof(
        fc.string({ maxLength: 200 }),
        fc.constant('a[b][c][d][e][f]=1&a[__proto__][x]=1&username=alice&username=bob'),
        fc.constant('{"query":"{ myOrders { id } }"}'),
      ),
    )
    .map(([type, text]) => ({ type, bytes: Buffer.from(text) })),
  fc
    .tuple(
      fc.constantFrom('gzip', 'deflate', 'br', 'compress', 'identity, gzip'),
      fc.uint8Array({ maxLength: 500 }),
    )
    .map(([encoding, bytes]) => ({
      type: 'application/json',
      encoding,
      bytes: Buffer.from(bytes),
    })),
);

describe('fuzzing the built stack through the gateway', () => {
  const stack = new Stack('fuzz');
  const statuses = new Map<number, number>();
  let sent = 0;
  let agent: Agent;
  let aliceCookie: string;
  let fuzzerToken: string;
  let productsBefore: unknown;

  async function json(path: string, init: RequestInit = {}): Promise<Response> {
    return fetch(`${stack.baseUrl}${path}`, {
      ...init,
      headers: { 'content-type': 'application/json', origin: stack.baseUrl, ...init.headers },
    });
  }

  async function login(username: string, password: string, transport = 'bearer') {
    const response = await json('/api/auth/login', {
      method: 'POST',
      body: JSON.stringify({ username, password, transport }),
    });
    expect(response.status).toBe(200);
    return response;
  }

  beforeAll(async () => {
    await stack.start();
    agent = new Agent({ keepAlive: true, maxSockets: 4 });
    // What must survive: alice's session, the products, a product an admin adds now.
    const alice = await login('alice', 'alice-password', 'cookie');
    aliceCookie = (alice.headers.get('set-cookie') ?? '').split(';')[0];
    const admin = (await (await login('admin', 'admin-password')).json()) as { token: string };
    const adminAuth = { authorization: `Bearer ${admin.token}` };
    const created = await json('/api/catalog/products', {
      method: 'POST',
      headers: adminAuth,
      body: JSON.stringify({ sku: 'FUZZ-KEEP', name: 'Kept', priceCents: 1234 }),
    });
    expect(created.status).toBe(201);
    productsBefore = await (await json('/api/catalog/products')).json();
    // The fuzzer's own customer: its valid token takes some requests past the guard.
    const username = `fuzzer-${Date.now().toString(36)}`;
    // Random: the password policy refuses one derived from the username.
    const password = `Fz-${randomBytes(12).toString('base64url')}`;
    const user = await json('/api/auth/users', {
      method: 'POST',
      headers: adminAuth,
      body: JSON.stringify({ username, password, roles: ['customer'] }),
    });
    expect(user.status).toBe(201);
    fuzzerToken = ((await (await login(username, password)).json()) as { token: string }).token;
  }, 90_000);

  afterAll(async () => {
    agent?.destroy();
    await stack.stop();
  });

  function send(request: FuzzRequest): Promise<Answer> {
    return new Promise((resolve, reject) => {
      const outgoing = httpRequest(
        {
          host: '127.0.0.1',
          port: stack.ports.gateway,
          method: request.method,
          path: request.path,
          headers: {
            ...request.headers,
            ...(request.body && { 'content-length': String(request.body.length) }),
          },
          agent,
          timeout: 30_000,
        },
        (response) => {
          const chunks: Buffer[] = [];
          response.on('data', (chunk: Buffer) => chunks.push(chunk));
          response.on('end', () =>
            resolve({
              status: response.statusCode ?? 0,
              body: Buffer.concat(chunks).toString('utf8'),
            }),
          );
          response.on('error', reject);
        },
      );
      outgoing.on('timeout', () => outgoing.destroy(new Error('no answer within 30 s')));
      outgoing.on('error', (error: NodeJS.ErrnoException) => {
        // Node's HTTP parser answers a request line with raw non-ASCII bytes with a bare
        // 400 and closes the connection at once: a client still sending its body reads a
        // reset instead. That is the protocol's answer to a malformed request, not the app's.
        if (error.code === 'ECONNRESET' && /[^\x21-\x7e]/.test(request.path)) {
          resolve({ status: 400, body: '' });
          return;
        }
        reject(error);
      });
      outgoing.end(request.body);
    });
  }

  const headers = fc.record(
    {
      cookie: fc.oneof(
        headerText(60).map((text) => `cr_session=${text}`),
        headerText(60).map((text) => `cr_session=cr1.${text}`),
        headerText(200),
        fc.constant('cr_session=a; cr_session=b; __Host-cr_session=c'),
        fc.integer({ min: 1_000, max: 8_000 }).map((n) => `cr_session=cr1.${'A'.repeat(n)}`),
        fc.constant('FUZZER'),
      ),
      authorization: fc.oneof(
        headerText(80).map((text) => `Bearer ${text}`),
        fc.constantFrom(
          'Bearer',
          'Bearer ',
          'bearer cr1.',
          'Basic YWRtaW46YWRtaW4=',
          'Bearer cr1..',
        ),
        headerText(100),
        fc.constant('FUZZER'),
      ),
      'x-forwarded-for': headerText(40),
      'x-forwarded-host': headerText(40),
      'x-forwarded-proto': fc.constantFrom('https', 'http', 'gopher', ''),
      forwarded: headerText(60),
      origin: fc.oneof(fc.constant('FUZZER'), fc.constant('null'), headerText(40)),
      'sec-fetch-site': fc.constantFrom('cross-site', 'same-origin', 'none', '?'),
      accept: headerText(30),
    },
    { requiredKeys: [] },
  );

  it(`answers ${RUNS} generated requests without a 5xx or a stack trace`, async () => {
    await fc.assert(
      fc.asyncProperty(target, headers, body, async ({ method, path }, fuzzed, payload) => {
        const request: FuzzRequest = { method, path, headers: {} };
        for (const [name, value] of Object.entries(fuzzed)) {
          if (value === 'FUZZER') {
            request.headers[name] =
              name === 'cookie'
                ? `cr_session=${fuzzerToken}`
                : name === 'origin'
                  ? stack.baseUrl
                  : `Bearer ${fuzzerToken}`;
          } else if (value !== undefined) {
            request.headers[name] = value;
          }
        }
        if (payload.bytes && method !== 'HEAD') {
          request.body = payload.bytes;
          if (payload.type) request.headers['content-type'] = payload.type;
          if (payload.encoding) request.headers['content-encoding'] = payload.encoding;
        }
        const answer = await send(request);
        sent++;
        statuses.set(answer.status, (statuses.get(answer.status) ?? 0) + 1);
        expect(answer.status).toBeLessThan(500);
        // No stack, no exception class; GraphQL's own parse errors ("Syntax Error: Unexpected
        // Name ...", a 400) are the answer the GraphQL spec gives, not a leak.
        expect(answer.body).not.toMatch(/\n\s+at |(?<!Syntax )Error:/);
      }),
      {
        numRuns: RUNS,
        // Found by a run (seed -1819731343): a huge name as the GraphQL query.
        examples: [
          [
            { method: 'POST', path: '/api/orders/graphql' },
            {},
            {
              type: 'application/json',
              bytes: Buffer.from(JSON.stringify({ query: 'x'.repeat(10_000) })),
            },
          ],
        ],
      },
    );
  }, 300_000);

  it('leaves every process serving, with what was stored before', async () => {
    const summary = { sent, statuses: Object.fromEntries([...statuses].sort(([a], [b]) => a - b)) };
    writeFileSync(join(ARTIFACTS, 'fuzz-summary.json'), JSON.stringify(summary, null, 2));
    expect(sent).toBeGreaterThanOrEqual(RUNS);
    // Polled: on a loaded machine the gateway's check of the services may time out once.
    for (const app of ['auth', 'orders', 'catalog', 'gateway'] as const) {
      await waitForStatus(`${stack.url(app)}/api/${app}/health`, 200, 20_000);
    }
    expect(await (await json('/api/catalog/products')).json()).toEqual(productsBefore);
    const session = await json('/api/auth/session', { headers: { cookie: aliceCookie } });
    expect(session.status).toBe(200);
    expect(((await session.json()) as { user: { username: string } }).user.username).toBe('alice');
  });

  it('wrote no stack trace to any log', () => {
    for (const app of ['auth', 'orders', 'catalog', 'gateway']) {
      const log = readFileSync(join(ARTIFACTS, `fuzz-${app}.log`), 'utf8');
      expect({ app, traces: log.match(/^.*\n\s+at .*$/gm) ?? [] }).toEqual({ app, traces: [] });
    }
  });
});
