import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { INestApplication } from '@nestjs/common';
import request from 'supertest';

import { HttpErrorFilter } from '@cloakroom/service-kit';
import { SessionStoreUnavailableError } from '@cloakroom/session';
import { freePort, RedisServerProcess, startRedisServer } from '@cloakroom/session/testing';

import { OrdersService } from '../src/app/orders/orders.service';
import { LiveSocket, openLiveSocket, refusedHandshake } from './live-socket';
import { sessionCookie, startOrdersApp } from './orders-app';

describe('orders when Redis goes down (SQLite)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'orders-e2e-'));
  let redis: RedisServerProcess;
  let app: INestApplication;
  let cookie: string;
  let live: LiveSocket;

  beforeAll(async () => {
    redis = await startRedisServer(await freePort());
    app = await startOrdersApp({
      ORDERS_DATABASE_URL: `sqlite:${join(dir, 'orders.sqlite')}`,
      REDIS_URL: redis.url,
      SESSION_KEY_PREFIX: 'cr:',
    });
    cookie = await sessionCookie(app, { id: 'u-1', username: 'alice', roles: ['customer'] });
    await app.listen(0, '127.0.0.1');
    const { port } = app.getHttpServer().address() as AddressInfo;
    live = openLiveSocket(`ws://127.0.0.1:${port}/api/orders/ws`, {
      Authorization: `Bearer ${cookie.split('=')[1]}`,
    });
    await live.opened;
  });

  afterAll(async () => {
    live?.ws.terminate();
    await app?.close();
    await redis?.dispose();
    rmSync(dir, { recursive: true, force: true });
  });

  it('serves orders from the SQLite database while Redis is up', async () => {
    await request(app.getHttpServer())
      .post('/api/orders')
      .set('Authorization', `Bearer ${cookie.split('=')[1]}`)
      .send({ items: [{ sku: 'TEA-01', quantity: 1 }] })
      .expect(201);
    const response = await request(app.getHttpServer())
      .get('/api/orders')
      .set('Cookie', cookie)
      .expect(200);
    expect(response.body).toHaveLength(1);
  });

  describe('with Redis stopped', () => {
    beforeAll(async () => {
      await redis.stop();
    });

    it('answers 503 on guarded routes at once, never 500 nor a pass', async () => {
      // What the error filter is handed to answer (its `toBody`, protected, is where it reads it).
      const answered = jest.spyOn(
        HttpErrorFilter.prototype as unknown as { toBody(exception: unknown): unknown },
        'toBody',
      );
      try {
        // Answered while Redis is still stopped (it starts again only in the last test): no
        // wait for it to come back.
        const response = await request(app.getHttpServer())
          .get('/api/orders')
          .set('Cookie', cookie);
        expect(response.status).toBe(503);
        expect(response.body).toEqual({ statusCode: 503, message: expect.any(String) });
        // On the refusal of the closed connection itself, not after waiting out the store's
        // timeout for a command queued until Redis came back.
        const [exception] = answered.mock.calls.at(-1) ?? [];
        expect(exception).toBeInstanceOf(SessionStoreUnavailableError);
        expect(String((exception as Error).cause)).toMatch(/Stream isn't writeable/);
      } finally {
        answered.mockRestore();
      }
    });

    it('answers GraphQL with SERVICE_UNAVAILABLE and status 503, never data nor a server error', async () => {
      const response = await request(app.getHttpServer())
        .post('/api/orders/graphql')
        .set('Authorization', `Bearer ${cookie.split('=')[1]}`)
        .send({ query: '{ myOrders { id } }' });
      expect(response.body.data).toBeNull();
      expect(response.body.errors).toEqual([
        expect.objectContaining({
          message: 'Session store unavailable',
          extensions: expect.objectContaining({ code: 'SERVICE_UNAVAILABLE', status: 503 }),
        }),
      ]);
    });

    it('closes a live socket with 1013 rather than push an order without reading its session', async () => {
      // The socket heard of the order placed while Redis was up.
      expect(live.frames.map((frame) => frame.type)).toEqual(['order']);
      const user = { id: 'u-1', username: 'alice', roles: ['customer'] };
      await app.get(OrdersService).place(user, { items: [{ sku: 'TEA-02', quantity: 1 }] });
      expect((await live.closed).code).toBe(1013);
      expect(live.frames).toHaveLength(1);
    });

    it('refuses a WebSocket handshake with a JSON 503, before upgrading it', async () => {
      const { port } = app.getHttpServer().address() as AddressInfo;
      const answer = await refusedHandshake(`ws://127.0.0.1:${port}/api/orders/ws`, {
        Authorization: `Bearer ${cookie.split('=')[1]}`,
      });
      expect({ status: answer.status, body: answer.body }).toEqual({
        status: 503,
        body: { statusCode: 503, message: 'Session store unavailable' },
      });
    });

    it('still answers 401 without a token: no store call is needed to refuse it', async () => {
      await request(app.getHttpServer()).get('/api/orders').expect(401);
    });

    it('reports Redis down and the database up on the public health check, with 503', async () => {
      const response = await request(app.getHttpServer()).get('/api/orders/health');
      expect(response.status).toBe(503);
      expect(response.body.details).toEqual({
        sessions: { status: 'down', message: 'unreachable' },
        database: { status: 'up' },
      });
    });

    it('recovers by itself when Redis comes back', async () => {
      await redis.start();
      // The session lived only in the stopped server's memory: the token is now unknown.
      await waitFor(async () => {
        const status = (await request(app.getHttpServer()).get('/api/orders').set('Cookie', cookie))
          .status;
        return status === 401;
      });
      const fresh = await sessionCookie(app, { id: 'u-1', username: 'alice', roles: ['customer'] });
      await request(app.getHttpServer()).get('/api/orders').set('Cookie', fresh).expect(200);
      await request(app.getHttpServer()).get('/api/orders/health').expect(200);
    });
  });
});

async function waitFor(check: () => Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}
