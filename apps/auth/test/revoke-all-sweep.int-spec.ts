import request from 'supertest';
import type { App } from 'supertest/types';

import { AuthRedis } from '../src/app/redis/auth-redis';

import { AuthApp, loginWithBearer, signal, startAuthApp, strongPassword } from './auth-app';

jest.setTimeout(60_000);

const bearer = (token: string) => ({ Authorization: `Bearer ${token}` });

/**
 * A revoke-all holds the admin lock until its watermark is set, not through the sweep that
 * deletes what the watermark outdates: on a large deployment that sweep takes long, and every
 * other administrator's access change would wait for it (503 after the lock's wait).
 */
describe('POST /revoke-all while its sweep of Redis is still going', () => {
  let auth: AuthApp;
  let http: App;
  let made = 0;

  beforeAll(async () => {
    auth = await startAuthApp('revoke-all-sweep');
    http = auth.http;
  });

  afterAll(async () => {
    await auth?.close();
  });

  let releaseHeld = () => undefined as void;

  afterEach(() => {
    releaseHeld();
    jest.restoreAllMocks();
  });

  async function newUser(adminToken: string, roles: string[]) {
    const username = `sweeper-${process.pid}-${made++}`;
    const password = strongPassword();
    const created = await request(http)
      .post('/api/auth/users')
      .set(bearer(adminToken))
      .send({ username, password, roles })
      .expect(201);
    const login = await loginWithBearer(http, username, password);
    return { id: created.body.id as string, token: login.token };
  }

  /** Holds the sweep at its first SCAN of session keys until `release` fires. */
  function holdTheSweep() {
    const client = auth.app.get(AuthRedis).client as unknown as {
      scan: (...args: unknown[]) => Promise<unknown>;
    };
    const scan = client.scan.bind(client);
    const reached = signal();
    const release = signal();
    let armed = true;
    jest.spyOn(client, 'scan').mockImplementation(async (...args) => {
      if (armed && args.includes('MATCH')) {
        armed = false;
        reached.fire();
        await release.done;
      }
      return scan(...args);
    });
    releaseHeld = release.fire;
    return { reached: reached.done, release: release.fire };
  }

  const alive = async (token: string) =>
    (await request(http).get('/api/auth/session').set(bearer(token))).status === 200;

  it("lets another administrator change the caller's access meanwhile; the revocation stands", async () => {
    const main = (await loginWithBearer(http, 'admin', 'admin-password')).token;
    const caller = await newUser(main, ['admin']);
    const victim = await newUser(main, ['customer']);
    const sweep = holdTheSweep();

    const revokeAll = request(http).post('/api/auth/revoke-all').set(bearer(caller.token)).then();
    await sweep.reached;
    // The watermark is set: the victim is out already, although the sweep has not deleted
    // their session yet.
    expect(await alive(victim.token)).toBe(false);
    // Signed in after the watermark (the revoke-all ended the earlier session), another
    // administrator demotes the caller, under the lock the revoke-all no longer holds.
    const other = (await loginWithBearer(http, 'admin', 'admin-password')).token;
    let held = true;
    // A hang detector only: a demotion waiting for the sweep gets it released, and fails below.
    const detector = setTimeout(() => {
      held = false;
      sweep.release();
    }, 20_000);
    const demotion = await request(http)
      .put(`/api/auth/users/${caller.id}/roles`)
      .set(bearer(other))
      .send({ roles: ['customer'] });
    const answeredWhileHeld = held;
    clearTimeout(detector);
    sweep.release();

    expect(answeredWhileHeld).toBe(true);
    expect({ status: demotion.status, body: demotion.body }).toEqual({
      status: 200,
      body: expect.objectContaining({ id: caller.id, roles: ['customer'] }),
    });
    expect((await revokeAll).status).toBe(204);
    expect(await alive(victim.token)).toBe(false);
    // The caller's own session was kept, and carries the roles of the demotion.
    const session = await request(http).get('/api/auth/session').set(bearer(caller.token));
    expect({ status: session.status, roles: session.body.user?.roles }).toEqual({
      status: 200,
      roles: ['customer'],
    });
  });
});
