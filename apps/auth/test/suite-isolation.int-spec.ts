import request from 'supertest';
import { DataSource } from 'typeorm';

import {
  AuthApp,
  createUser,
  freshSchema,
  loginWithCookie,
  ORIGIN,
  startAuthApp,
  strongPassword,
} from './auth-app';

/** The admin lock's key (see `AdminLock`). */
const ADMIN_CHANGE_LOCK = 0x61646d6e;

/**
 * Jest may run two auth files at once, each with its own schema. The admin lock is a
 * PostgreSQL advisory lock, one per database: some suites hold it for seconds on purpose (a
 * holder whose connection went quiet keeps it until the server ends it), and an administrator's
 * write of a suite sharing their database would wait out `lock_timeout` for it and answer 503.
 */
describe('auth suites run side by side', () => {
  let auth: AuthApp;
  let adminCookie: string;

  beforeAll(async () => {
    auth = await startAuthApp('suite-isolation');
    adminCookie = (await loginWithCookie(auth.http, 'admin', 'admin-password')).cookie;
  });

  afterAll(async () => {
    await auth?.close();
  });

  /** Runs `work` while a connection of its own to `url` holds the admin lock. */
  async function whileLockedIn<T>(url: string, work: () => Promise<T>): Promise<T> {
    const holder = await new DataSource({ type: 'postgres', url }).initialize();
    try {
      await holder.query('SELECT pg_advisory_lock($1)', [ADMIN_CHANGE_LOCK]);
      return await work();
    } finally {
      // The lock goes with its connection.
      await holder.destroy();
    }
  }

  it("create users and change roles while another suite's instance holds its admin lock", async () => {
    const other = await freshSchema('auth_suite_isolation_other');
    await whileLockedIn(other, async () => {
      const user = await createUser(auth.http, adminCookie);
      await request(auth.http)
        .put(`/api/auth/users/${user.id}/roles`)
        .set('Cookie', adminCookie)
        .set('Origin', ORIGIN)
        .send({ roles: ['customer', 'support'] })
        .expect(200);
    });
  });

  // The case above means something only if a lock held on the suite's own database is waited for.
  it('wait for the admin lock held on their own database, then answer 503', async () => {
    const answer = await whileLockedIn(auth.databaseUrl, () =>
      request(auth.http)
        .post('/api/auth/users')
        .set('Cookie', adminCookie)
        .set('Origin', ORIGIN)
        .send({
          username: `waits-${process.pid}`,
          password: strongPassword(),
          roles: ['customer'],
        }),
    );
    expect({ status: answer.status, body: answer.body }).toEqual({
      status: 503,
      body: { statusCode: 503, message: 'Database unavailable', error: 'database_unavailable' },
    });
  }, 30_000);
});
