import { AddressInfo } from 'node:net';
import { INestApplication, Logger } from '@nestjs/common';
import request from 'supertest';

import { DATABASE_QUERY_TIMEOUT_MS } from '@cloakroom/database';
import { SessionSockets, SessionUser } from '@cloakroom/session';
import { startTcpRelay, TcpRelay, testKeyPrefix } from '@cloakroom/session/testing';

import { eventually, LiveSocket, openLiveSocket } from './live-socket';
import { randomSuffix, sessionCookie, startOrdersApp } from './orders-app';

jest.setTimeout(60_000);

const suite = randomSuffix();
const alice: SessionUser = { id: `alice-${suite}`, username: 'alice', roles: ['customer'] };

/**
 * PostgreSQL behind a relay the test strands (nothing passes, nothing closes: its host died) or
 * severs (connections refused). Sessions live in Redis and go on working: every answer that
 * needs the database is a 503, soon, on every way in.
 */
describe('orders while PostgreSQL is out of reach', () => {
  let relay: TcpRelay;
  let app: INestApplication;
  let sockets: SessionSockets;
  let token: string;
  let errors: jest.SpyInstance;
  const open: LiveSocket[] = [];

  beforeAll(async () => {
    relay = await startTcpRelay(5432);
    app = await startOrdersApp({
      ORDERS_DATABASE_URL: `postgres://postgres@127.0.0.1:${relay.port}/test`,
      REDIS_URL: 'redis://127.0.0.1:6379',
      SESSION_KEY_PREFIX: testKeyPrefix(`orders-db-down-${suite}`),
    });
    await app.listen(0, '127.0.0.1');
    sockets = app.get(SessionSockets);
    token = (await sessionCookie(app, alice)).split('=')[1];
  });

  beforeEach(() => {
    errors = jest.spyOn(Logger.prototype, 'error').mockImplementation(() => undefined);
  });

  afterEach(async () => {
    errors.mockRestore();
    for (const socket of open.splice(0)) socket.ws.terminate();
    await eventually(() => sockets.size === 0);
  });

  afterAll(async () => {
    await app?.close().catch(() => undefined);
    await relay?.sever().catch(() => undefined);
  });

  /** A bearer socket the server has accepted and registered. */
  async function liveSocket(): Promise<LiveSocket> {
    const { port } = app.getHttpServer().address() as AddressInfo;
    const before = sockets.size;
    const socket = openLiveSocket(`ws://127.0.0.1:${port}/api/orders/ws`, {
      Authorization: `Bearer ${token}`,
    });
    open.push(socket);
    await socket.opened;
    await eventually(() => sockets.size > before);
    return socket;
  }

  /** Asks for the recent orders and waits for the answer, or fails after `timeoutMs`. */
  async function recent(socket: LiveSocket, timeoutMs: number): Promise<unknown> {
    const count = socket.frames.length;
    socket.ws.send(JSON.stringify({ event: 'recent' }));
    await eventually(() => socket.frames.length > count, timeoutMs);
    return socket.frames[count];
  }

  /** What a "recent" message gets while the database is out of reach. */
  const UNAVAILABLE = {
    event: 'exception',
    data: {
      status: 503,
      message: 'Database unavailable',
      error: 'database_unavailable',
      pattern: 'recent',
    },
  };

  it('answers a "recent" message while the database answers', async () => {
    const socket = await liveSocket();
    expect(await recent(socket, 5000)).toEqual({ event: 'recent', data: expect.any(Array) });
  });

  it('answers a "recent" message with a 503 frame within the query timeout while the database does not answer, and keeps the socket', async () => {
    const socket = await liveSocket();
    relay.strand();
    expect(await recent(socket, 2 * DATABASE_QUERY_TIMEOUT_MS)).toEqual(UNAVAILABLE);
    expect(socket.ws.readyState).toBe(socket.ws.OPEN);
  });

  it('answers a "recent" message with a 503 frame while the database refuses connections', async () => {
    const socket = await liveSocket();
    await relay.sever();
    // The REST list answers the same outage with a 503 of its own.
    const listed = await request(app.getHttpServer())
      .get('/api/orders')
      .set('Authorization', `Bearer ${token}`);
    expect(listed.status).toBe(503);
    expect(listed.body).toMatchObject({ statusCode: 503, message: 'Database unavailable' });
    expect(await recent(socket, 2 * DATABASE_QUERY_TIMEOUT_MS)).toEqual(UNAVAILABLE);
    expect(socket.ws.readyState).toBe(socket.ws.OPEN);
  });
});
