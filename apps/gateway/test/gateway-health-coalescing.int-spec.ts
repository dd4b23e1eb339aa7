import { createServer, Server } from 'node:http';
import { NestExpressApplication } from '@nestjs/platform-express';

import { UPSTREAM_HEALTH_REUSE_MS } from '../src/app/health/upstream.health';
import { exchange, headFor, portOf } from './recording-service';
import { startGateway } from './start-gateway';

type Name = 'auth' | 'orders' | 'catalog';

/**
 * A stand-in for every service that counts the checks of its health, per service, and answers
 * each a moment later (so that calls side by side overlap one in flight) with the status the
 * test set for that service.
 */
function countingHealth() {
  const checks: Record<Name, number> = { auth: 0, orders: 0, catalog: 0 };
  const status: Record<Name, number> = { auth: 200, orders: 200, catalog: 200 };
  const server = createServer((req, res) => {
    const name = /^\/api\/(auth|orders|catalog)\/health$/.exec(req.url ?? '')?.[1] as Name;
    if (!name) {
      res.writeHead(404).end();
      return;
    }
    checks[name] += 1;
    setTimeout(() => {
      res.writeHead(status[name], { 'content-type': 'application/json' }).end('{}');
    }, 50);
  });
  return new Promise<{ server: Server; checks: typeof checks; status: typeof status }>((done) =>
    server.listen(0, '127.0.0.1', () => done({ server, checks, status })),
  );
}

describe('gateway health, against a flood of calls', () => {
  let service: Awaited<ReturnType<typeof countingHealth>>;
  let app: NestExpressApplication;
  let gateway: Server;
  let own: string;

  beforeAll(async () => {
    service = await countingHealth();
    const url = `http://127.0.0.1:${portOf(service.server)}`;
    app = await startGateway({ AUTH_URL: url, ORDERS_URL: url, CATALOG_URL: url });
    gateway = app.getHttpServer();
    own = `localhost:${portOf(gateway)}`;
  });

  afterAll(async () => {
    await app?.close();
    service?.server.close();
  });

  beforeEach(() => {
    Object.assign(service.checks, { auth: 0, orders: 0, catalog: 0 });
    Object.assign(service.status, { auth: 200, orders: 200, catalog: 200 });
  });

  /**
   * The most checks of one service that calls spread over `elapsed` ms may cost: one in flight
   * at a time, each result standing for the reuse window after it.
   */
  const bound = (elapsed: number) => 1 + Math.ceil(elapsed / UPSTREAM_HEALTH_REUSE_MS);

  const health = (host: string) => exchange(gateway, headFor('/api/gateway/health', host, false));

  it('shares checks among calls side by side, whatever Host they name', async () => {
    const start = performance.now();
    const answers = await Promise.all(
      Array.from({ length: 60 }, (_, i) => health(i % 2 ? own : `10.0.0.${i}`)),
    );
    const elapsed = performance.now() - start;
    expect(answers.map(({ status }) => status)).toEqual(answers.map(() => 200));
    for (const name of ['auth', 'orders', 'catalog'] as const) {
      expect(service.checks[name]).toBeGreaterThanOrEqual(1);
      expect(service.checks[name]).toBeLessThanOrEqual(bound(elapsed));
    }
  });

  it('reuses a result for calls one after another', async () => {
    const start = performance.now();
    for (let i = 0; i < 30; i += 1) expect((await health(own)).status).toBe(200);
    const elapsed = performance.now() - start;
    for (const name of ['auth', 'orders', 'catalog'] as const) {
      expect(service.checks[name]).toBeLessThanOrEqual(bound(elapsed));
    }
  });

  it('tells a service going down, and coming back, once the reuse window has passed', async () => {
    expect((await health(own)).status).toBe(200);
    /** Calls the gateway's health until it answers `status`, for 10 s at most. */
    const until = async (status: number) => {
      for (let waited = 0; waited < 10_000; waited += 100) {
        if ((await health(own)).status === status) return true;
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      return false;
    };
    service.status.catalog = 503;
    expect(await until(503)).toBe(true);
    const { text } = await health(own);
    expect(JSON.parse(text.slice(text.indexOf('\r\n\r\n') + 4))).toMatchObject({
      details: { auth: { status: 'up' }, catalog: { status: 'down', httpStatus: 503 } },
    });
    service.status.catalog = 200;
    expect(await until(200)).toBe(true);
  });
});
