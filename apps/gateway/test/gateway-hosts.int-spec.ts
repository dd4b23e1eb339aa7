import { Server } from 'node:http';

import {
  exchange,
  gatewayBeforeRecorder,
  headFor,
  Heard,
  portOf,
  RecordedGateway,
} from './recording-service';

describe('gateway hosts (DNS rebinding)', () => {
  const heard: Heard[] = [];
  let started: RecordedGateway | undefined;
  let gateway: Server;
  let port: number;

  beforeAll(async () => {
    started = await gatewayBeforeRecorder(heard, {
      PUBLIC_URL: 'https://shop.example',
      SESSION_ALLOWED_ORIGINS: 'https://shop.example,http://other.example:8081',
      GATEWAY_ALLOWED_HOSTS: 'gateway.internal:8080, any.internal',
    });
    gateway = started.gateway;
    port = portOf(gateway);
  });

  afterAll(async () => {
    await started?.close();
  });

  beforeEach(() => (heard.length = 0));

  /** Host values a rebinding page, or a client playing with the syntax, could send. */
  const hostile = () => [
    'evil.example',
    `evil.example:${port}`,
    `EVIL.example:${port}`,
    'shop.example.evil.example',
    'evilshop.example',
    'shop.example.',
    'shop.example:8443',
    `localhost.:${port}`,
    `localhost:${port}.`,
    `localhost:0${port}`,
    `localhost:${port + 1}`,
    `localhost:${port}:${port}`,
    'localhost:',
    'localhost',
    '127.0.0.1',
    `127.1:${port}`,
    `2130706433:${port}`,
    `0x7f000001:${port}`,
    `[0:0:0:0:0:0:0:1]:${port}`,
    `[::ffff:127.0.0.1]:${port}`,
    '[::1]',
    `::1:${port}`,
    `localhost:${port}@evil.example`,
    `evil.example@localhost:${port}`,
    `user:pass@localhost:${port}`,
    `localhost:${port}/evil.example`,
    `localhost:${port},evil.example`,
    `localhost:${port} evil.example`,
    `localhost:${port}\\@evil.example`,
    'gateway.internal',
    'gateway.internal:8081',
    'other.example',
    'other.example:80',
    '',
  ];

  it.each([false, true])(
    'answers 421 to a hostile Host in each form, before the service hears of it (upgrade: %s)',
    async (upgrade) => {
      const answers = await Promise.all(
        hostile().map(async (host) => ({
          host,
          ...(await exchange(gateway, headFor('/api/catalog/products', host, upgrade))),
        })),
      );
      const wrong = answers.filter(
        ({ status, text }) =>
          status !== 421 || !text.includes('"This gateway does not serve that host"'),
      );
      expect(wrong.map(({ host, status }) => ({ host, status }))).toEqual([]);
      expect(answers[0].text).toMatch(/content-type: application\/json/i);
      expect(heard).toEqual([]);
    },
  );

  it('serves no web page to a hostile Host', async () => {
    const page = await exchange(gateway, headFor('/', 'evil.example', false));
    expect(page.status).toBe(421);
    expect(page.text).not.toMatch(/<html/i);
    expect((await exchange(gateway, headFor('/', `localhost:${port}`, false))).status).toBe(200);
  });

  it.each([false, true])(
    'forwards the gateway own hosts, in any case (upgrade: %s)',
    async (upgrade) => {
      const own = [
        `localhost:${port}`,
        `LocalHost:${port}`,
        `127.0.0.1:${port}`,
        `[::1]:${port}`,
        'shop.example',
        'SHOP.EXAMPLE',
        'shop.example:443',
        'other.example:8081',
        'gateway.internal:8080',
        'any.internal',
        'any.internal:1234',
      ];
      const answers = await Promise.all(
        own.map(async (host) => ({
          host,
          status: (await exchange(gateway, headFor('/api/catalog/products', host, upgrade))).status,
        })),
      );
      expect(answers).toEqual(own.map((host) => ({ host, status: upgrade ? 403 : 200 })));
      expect(heard).toHaveLength(own.length);
      expect(heard.every((one) => one.upgrade === upgrade)).toBe(true);
    },
  );

  it.each([false, true])(
    'answers 400 to a request with two Host lines, whichever comes first (upgrade: %s)',
    async (upgrade) => {
      for (const hosts of [
        [`localhost:${port}`, 'evil.example'],
        ['evil.example', `localhost:${port}`],
        [`localhost:${port}`, `localhost:${port}`],
      ]) {
        const [line, ...headers] = headFor('/api/catalog/products', hosts[0], upgrade);
        const answer = await exchange(gateway, [line, ...headers, `host: ${hosts[1]}`]);
        expect(answer.status).toBe(400);
        expect(answer.text).toContain('"More than one Host header"');
      }
      expect(heard).toEqual([]);
    },
  );

  it('answers 400 to a request without Host, which Node lets through for HTTP/1.0', async () => {
    for (const line of [
      'GET /api/catalog/products HTTP/1.0',
      'GET /api/catalog/products HTTP/1.1',
    ]) {
      const answer = await exchange(gateway, [line, 'Connection: close']);
      expect(answer.status).toBe(400);
    }
    expect(heard).toEqual([]);
  });

  it.each([false, true])(
    'answers 421 to an absolute-form target naming another host (upgrade: %s)',
    async (upgrade) => {
      const statuses: Record<string, number> = {};
      for (const target of [
        'http://evil.example/api/catalog/products',
        `http://evil.example:${port}/api/catalog/products`,
        `http://localhost:${port}@evil.example/api/catalog/products`,
        `http://evil.example@localhost:${port}/api/catalog/products`,
        `https://evil.example?/api/catalog/products`,
        'http:///api/catalog/products',
        'evil.example/api/catalog/products',
      ]) {
        const answer = await exchange(gateway, headFor(target, `localhost:${port}`, upgrade));
        statuses[target] = answer.status;
      }
      // Node's parser refuses the forms that are no request target at all itself, with a 400.
      const wrong = Object.entries(statuses).filter(([, status]) => ![421, 400].includes(status));
      expect(wrong).toEqual([]);
      expect(statuses['http://evil.example/api/catalog/products']).toBe(421);
      expect(heard).toEqual([]);
    },
  );

  it.each([false, true])(
    'serves an absolute-form target naming its own host as the origin form (upgrade: %s)',
    async (upgrade) => {
      const targets = [
        [`http://localhost:${port}/api/orders/ws?x=1`, `localhost:${port}`],
        [`HTTP://LocalHost:${port}/api/orders/ws?x=1`, `localhost:${port}`],
        ['https://shop.example/api/orders/ws?x=1', 'shop.example'],
        ['http://any.internal:1234/api/orders/ws?x=1', 'any.internal:1234'],
      ];
      const answers = [];
      for (const [target, host] of targets) {
        const answer = await exchange(gateway, headFor(target, host, upgrade));
        answers.push({ target, status: answer.status });
      }
      expect(answers).toEqual(targets.map(([target]) => ({ target, status: upgrade ? 403 : 200 })));
      // The service hears the path alone, as from an origin-form request, and the gateway's
      // forwarding headers.
      expect(heard.map(({ url, upgrade: upgraded }) => ({ url, upgraded }))).toEqual(
        targets.map(() => ({ url: '/api/orders/ws?x=1', upgraded: upgrade })),
      );
      expect(heard[0].headers['x-forwarded-host']).toBe('shop.example');
    },
  );

  it('routes and checks an absolute-form target as it would the origin form', async () => {
    const own = `localhost:${port}`;
    const statusOf = async (target: string) =>
      (await exchange(gateway, headFor(target, own, false))).status;
    expect(await statusOf(`http://${own}`)).toBe(200);
    expect(await statusOf(`http://${own}?q=1`)).toBe(200);
    expect(await statusOf(`http://${own}/api/gateway/health`)).toBe(200);
    for (const target of [
      `http://${own}/api/auth//metrics`,
      `http://${own}/api/auth/%2e%2e/metrics`,
      `http://${own}/api/auth/metrics`,
      `http://${own}/api/catalog/products#x`,
    ]) {
      expect({ target, status: await statusOf(target) }).toEqual({ target, status: 404 });
    }
    const twoHosts = await exchange(
      gateway,
      headFor(`http://${own}/api/catalog/products`, 'evil.example', false),
    );
    expect(twoHosts.status).toBe(421);
    expect(heard.map(({ url }) => url).filter((url) => !url.endsWith('/health'))).toEqual([]);
  });

  it('answers a hostile Host before reading a body the service would get', async () => {
    const answer = await exchange(gateway, [
      'POST /api/auth/login HTTP/1.1',
      'Host: evil.example',
      'Content-Type: application/json',
      'Content-Length: 1000000',
    ]);
    expect(answer.status).toBe(421);
    expect(heard).toEqual([]);
  });
});
