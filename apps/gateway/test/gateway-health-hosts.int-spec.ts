import { Server } from 'node:http';

import {
  exchange,
  gatewayBeforeRecorder,
  headFor,
  Heard,
  portOf,
  RecordedGateway,
} from './recording-service';

/** The body of a raw answer, parsed. */
function bodyOf(text: string): unknown {
  return JSON.parse(text.slice(text.indexOf('\r\n\r\n') + 4));
}

describe('gateway health for a Host it does not serve (a probe by address)', () => {
  const heard: Heard[] = [];
  let started: RecordedGateway | undefined;
  let gateway: Server;
  let port: number;

  beforeAll(async () => {
    started = await gatewayBeforeRecorder(heard, { PUBLIC_URL: 'https://shop.example' });
    gateway = started.gateway;
    port = portOf(gateway);
  });

  afterAll(async () => {
    await started?.close();
  });

  beforeEach(() => (heard.length = 0));

  /** Hosts a load balancer or Kubernetes probe sends (a pod's address), and a rebinding page's. */
  const foreign = () => [`10.1.2.3:${port}`, '10.1.2.3', `[fd00::7]:${port}`, 'evil.example'];

  /** What the services heard besides the gateway's own checks of their health. */
  const proxied = () =>
    heard.filter(({ url }) => !/^\/api\/(auth|orders|catalog)\/health$/.test(url));

  it.each(['GET', 'HEAD'])('answers %s /api/gateway/health for any Host', async (method) => {
    for (const host of foreign()) {
      const [, ...headers] = headFor('/api/gateway/health', host, false);
      const answer = await exchange(gateway, [
        `${method} /api/gateway/health HTTP/1.1`,
        ...headers,
      ]);
      expect({ host, status: answer.status }).toEqual({ host, status: 200 });
      if (method === 'GET') expect(bodyOf(answer.text)).toEqual({ status: 'ok' });
    }
    expect(proxied()).toEqual([]);
  });

  it('tells a foreign Host only up or down: no service names, statuses or messages', async () => {
    const own = await exchange(gateway, headFor('/api/gateway/health', `localhost:${port}`, false));
    expect(bodyOf(own.text)).toMatchObject({ details: { auth: { status: 'up' } } });
    const answer = await exchange(gateway, headFor('/api/gateway/health', 'evil.example', false));
    expect(bodyOf(answer.text)).toEqual({ status: 'ok' });
  });

  it('still refuses every other path, spelling and method for a foreign Host, forwarding nothing', async () => {
    const targets = [
      ['GET', '/'],
      ['GET', '/api/gateway'],
      ['GET', '/api/gateway/health/'],
      ['GET', '/API/gateway/health'],
      ['GET', '/api/gateway/health/x'],
      ['GET', '/api/gateway/healthz'],
      ['GET', '/api/gateway/%68ealth'],
      ['GET', '/api/auth/health'],
      ['GET', '/api/orders/health'],
      ['GET', '/api/catalog/products'],
      ['GET', '/api/auth/metrics'],
      ['POST', '/api/gateway/health'],
      ['OPTIONS', '/api/gateway/health'],
      ['GET', 'http://evil.example/api/gateway/health'],
    ];
    const wrong: unknown[] = [];
    for (const [method, target] of targets) {
      for (const host of foreign()) {
        const [, ...headers] = headFor(target, host, false);
        const answer = await exchange(gateway, [`${method} ${target} HTTP/1.1`, ...headers]);
        if (answer.status !== 421) wrong.push({ method, target, host, status: answer.status });
      }
    }
    expect(wrong).toEqual([]);
    expect(heard).toEqual([]);
  });

  it('refuses a WebSocket handshake to the health path for a foreign Host', async () => {
    const answer = await exchange(gateway, headFor('/api/gateway/health', 'evil.example', true));
    expect(answer.status).toBe(421);
    expect(heard).toEqual([]);
  });

  it('still answers 400 to a health request with no Host or two', async () => {
    const twice = headFor('/api/gateway/health', '10.1.2.3', false);
    expect((await exchange(gateway, [...twice, 'Host: evil.example'])).status).toBe(400);
    const none = ['GET /api/gateway/health HTTP/1.0', 'Connection: close'];
    expect((await exchange(gateway, none)).status).toBe(400);
  });
});

describe('gateway health for a foreign Host while a service is down', () => {
  const heard: Heard[] = [];
  let started: RecordedGateway | undefined;

  beforeAll(async () => {
    started = await gatewayBeforeRecorder(heard, { CATALOG_URL: 'http://127.0.0.1:1' });
  });

  afterAll(async () => {
    await started?.close();
  });

  it('answers 503 with the error shape alone, naming no service', async () => {
    const gateway = started?.gateway as Server;
    const answer = await exchange(gateway, headFor('/api/gateway/health', '10.1.2.3', false));
    expect(answer.status).toBe(503);
    expect(bodyOf(answer.text)).toEqual({ statusCode: 503, message: 'Service Unavailable' });
    const own = `localhost:${portOf(gateway)}`;
    const detailed = await exchange(gateway, headFor('/api/gateway/health', own, false));
    expect(detailed.status).toBe(503);
    expect(bodyOf(detailed.text)).toMatchObject({
      details: { catalog: { status: 'down', message: 'unreachable' } },
    });
  });
});
