import { Redis } from 'ioredis';

import { SessionService, SessionStoreUnavailableError } from '@cloakroom/session';
import {
  RedisServerProcess,
  startRedisServer,
  startTcpRelay,
  TcpRelay,
} from '@cloakroom/session/testing';
import { UsersService } from '../src/app/users/users.service';

import { AuthApp, createUser, loginWithBearer, loginWithCookie, startAuthApp } from './auth-app';

/**
 * An access change answered 503 is put back: the row as it was, then its sessions again. When
 * the connection to Redis breaks after Redis ran the change but before the put-back reached
 * it, the put-back is lost with the change's answer, and the sessions keep access the database
 * no longer grants — an administrator role nobody holds. The service must apply the stored
 * access again once Redis answers.
 */
describe('an access change whose answer and undo were lost with the connection', () => {
  const STORE_TIMEOUT_S = 0.3;
  let redis: RedisServerProcess;
  let relay: TcpRelay;
  let admin: Redis;
  let auth: AuthApp;

  beforeAll(async () => {
    redis = await startRedisServer();
    relay = await startTcpRelay(redis.port);
    admin = new Redis(redis.url);
    auth = await startAuthApp('redis-lost', {
      REDIS_URL: `redis://127.0.0.1:${relay.port}`,
      SESSION_STORE_TIMEOUT: String(STORE_TIMEOUT_S),
      // Only the instance's own retries after the failed put-back, not its periodic look.
      ACCESS_SYNC_INTERVAL: '3600',
    });
  });

  afterAll(async () => {
    admin?.disconnect();
    await auth?.close();
    await relay?.sever();
    await redis?.dispose();
  });

  const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

  it('gives the sessions the access the database holds, once Redis answers again', async () => {
    const users = auth.app.get(UsersService);
    const sessions = auth.app.get(SessionService);
    const administrator = await loginWithCookie(auth.http, 'admin', 'admin-password');
    const user = await createUser(auth.http, administrator.cookie, ['customer']);
    const { token } = await loginWithBearer(auth.http, user.username, user.password);
    const adminId = (await users.findByUsername('admin'))?.id as string;

    // The promotion reaches Redis, which holds it (writes paused)…
    await admin.client('PAUSE', 3000, 'WRITE');
    const promotion = users.changeAccess(user.id, adminId, { roles: ['customer', 'admin'] }, (u) =>
      sessions.setRolesForUser(u.id, u.roles).then(() => undefined),
    );
    await sleep(150);
    // …and runs it within its deadline; the answer waits in the relay…
    relay.hold();
    await admin.call('CLIENT', 'UNPAUSE');
    await sleep(50);
    // …the call gives up, the put-back it sends waits there too…
    await expect(promotion).rejects.toBeInstanceOf(SessionStoreUnavailableError);
    expect((await users.findById(user.id))?.roles).toEqual(['customer']);
    // …and the connection breaks with both.
    relay.cut();

    const liveRoles = async () =>
      (await sessions.validate(token).catch(() => null))?.roles.join('+') ?? 'none';
    const deadline = Date.now() + 8000;
    while ((await liveRoles()) !== 'customer' && Date.now() < deadline) await sleep(100);
    expect(await liveRoles()).toBe('customer');
    expect((await users.findById(user.id))?.roles).toEqual(['customer']);
  }, 30_000);
});
