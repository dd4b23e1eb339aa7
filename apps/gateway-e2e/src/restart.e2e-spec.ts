import WebSocket from 'ws';

import { eventually } from '@cloakroom/e2e-support';
import { isAccepting, startTcpRelay } from '@cloakroom/session/testing';

import { Stack } from './support/stack';

/**
 * A rolling deploy as the services meet it: a built app restarted with SIGTERM while clients
 * go on using it.
 */
describe('restarts under traffic (built apps, SIGTERM)', () => {
  const stack = new Stack('restart');
  let alice: string;
  let admin: string;

  beforeAll(async () => {
    await stack.start();
    alice = await stack.login('alice', 'alice-password');
    admin = await stack.login('admin', 'admin-password');
  }, 60_000);

  afterAll(async () => {
    await stack.stop();
  });

  /** A WebSocket to orders' live feed through the gateway, authenticated and answering. */
  async function openFeed(): Promise<{ ws: WebSocket; closed: Promise<number> }> {
    const ws = new WebSocket(`${stack.baseUrl.replace(/^http/, 'ws')}/api/orders/ws`, {
      headers: { Authorization: `Bearer ${alice}` },
    });
    ws.on('error', () => undefined);
    const closed = new Promise<number>((resolve) => ws.once('close', (code) => resolve(code)));
    await new Promise((resolve) => ws.once('open', resolve));
    const answered = new Promise((resolve) => ws.once('message', resolve));
    ws.send(JSON.stringify({ event: 'recent' }));
    await answered;
    return { ws, closed };
  }

  it('answers the requests in flight at SIGTERM before it lets go of the auth RPC', async () => {
    // Catalog again, its session RPC to auth through a relay the test holds: each guarded
    // request waits there for its session, in flight.
    const relay = await startTcpRelay(stack.ports.rpc);
    await stack.stopApp('catalog');
    await stack.startApp('catalog', {
      AUTH_RPC_PORT: String(relay.port),
      SESSION_STORE_TIMEOUT: '10',
    });
    try {
      relay.hold();
      const answers: Promise<number>[] = [];
      for (let i = 0; i < 5; i++) {
        const before = relay.heldBytes().length;
        // An admin's product without a body: 400 once the guard has let it through.
        answers.push(
          fetch(`${stack.url('catalog')}/api/catalog/products`, {
            method: 'POST',
            headers: { Authorization: `Bearer ${admin}`, 'Content-Type': 'application/json' },
            body: '{}',
          }).then(
            (response) => response.status,
            () => 0,
          ),
        );
        await eventually(() => relay.heldBytes().length > before);
      }
      const stopped = stack.stopApp('catalog');
      // Catalog no longer takes connections: its shutdown is under way.
      await eventually(async () => !(await isAccepting(stack.ports.catalog)));
      relay.release();
      expect(await Promise.all(answers)).toEqual([400, 400, 400, 400, 400]);
      await stopped;
    } finally {
      relay.release();
      await stack.stopApp('catalog');
      await relay.sever();
      await stack.startApp('catalog', {
        AUTH_RPC_PORT: String(stack.ports.rpc),
        SESSION_STORE_TIMEOUT: '1',
      });
    }
  }, 60_000);

  it('closes its WebSockets with 1001 (going away), through the gateway, when it stops', async () => {
    const { closed } = await openFeed();
    const stopped = stack.stopApp('orders');
    expect(await closed).toBe(1001);
    await stopped;
    await stack.startApp('orders');
    (await openFeed()).ws.close();
  }, 60_000);

  it('answers 502 while a service is down, and serves it again once it is back', async () => {
    const list = () => stack.call(alice, 'GET', '/api/orders');
    await stack.stopApp('orders');
    const down = await list();
    expect(down.status).toBe(502);
    expect(await down.json()).toEqual({
      statusCode: 502,
      message: 'The orders service is unavailable',
    });
    await stack.startApp('orders');
    expect((await list()).status).toBe(200);
  }, 60_000);

  it('the gateway stops within its drain time while a WebSocket is open through it', async () => {
    const { closed } = await openFeed();
    const stopped = stack.stopApp('gateway').then(() => 'stopped');
    // SHUTDOWN_DRAIN_MS and SHUTDOWN_GRACE_MS (8 s together) bound it; twice that at most.
    const hung = new Promise((resolve) => setTimeout(resolve, 16_000, 'still running'));
    const outcome = await Promise.race([stopped, hung]);
    if (outcome !== 'stopped') stack.killApp('gateway');
    expect(outcome).toBe('stopped');
    await closed;
    await stack.startApp('gateway');
    expect((await stack.call(alice, 'GET', '/api/orders')).status).toBe(200);
  }, 60_000);
});

/**
 * A service restarted while many clients use it through the gateway: the connections it had
 * not yet taken when it stopped listening are reset, with the requests on them unread.
 */
describe('a service restarted under 16 clients (built apps, SIGTERM)', () => {
  const stack = new Stack('restart-clients');
  let alice: string;

  beforeAll(async () => {
    await stack.start();
    alice = await stack.login('alice', 'alice-password');
  }, 60_000);

  afterAll(async () => {
    await stack.stop();
  });

  it('answers 502, never 504, to the requests the stopping service drops', async () => {
    const statuses = new Map<number, number>();
    const list = () =>
      stack.call(alice, 'GET', '/api/orders').then(
        async (response) => {
          await response.arrayBuffer();
          return response.status;
        },
        () => 0,
      );
    // Each round meets a different instant of the stop: the resets are a race, so count them.
    for (let round = 0; round < 3; round++) {
      let stopping = false;
      let sent = 0;
      const client = async () => {
        while (!stopping) {
          const status = await list();
          sent++;
          statuses.set(status, (statuses.get(status) ?? 0) + 1);
        }
      };
      const clients = Array.from({ length: 16 }, client);
      await eventually(() => sent >= 32);
      await stack.stopApp('orders');
      stopping = true;
      await Promise.all(clients);
      await stack.startApp('orders');
    }
    // 502s show that the stop was met under traffic; a 504 (or a failed request, 0) would not be
    // what the clients were owed.
    expect(Object.fromEntries(statuses)).toEqual({
      200: expect.any(Number),
      502: expect.any(Number),
    });
  }, 120_000);
});
