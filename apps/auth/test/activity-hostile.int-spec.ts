import { randomUUID } from 'node:crypto';

import request from 'supertest';
import type { App } from 'supertest/types';
import { DataSource, DataSourceOptions } from 'typeorm';

import { databaseOptions, openDataSource } from '@cloakroom/database';

import { SecurityEvent } from '../src/app/activity/entities/security-event.entity';
import { SecurityActivityService } from '../src/app/activity/security-activity.service';

import {
  AuthApp,
  createUser,
  loginWithBearer,
  loginWithCookie,
  ORIGIN,
  startAuthApp,
} from './auth-app';

jest.setTimeout(120_000);

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

interface Item {
  id: string;
  type: string;
  actor: { id: string; username: string } | null;
  userId: string | null;
  sessionId?: string;
  reason?: string;
}

/** Polls a user's activity until `done` holds; the bound only turns a hang into a failure. */
async function activityUntil(
  http: App,
  token: string,
  done: (items: Item[]) => boolean,
): Promise<Item[]> {
  for (let attempt = 0; ; attempt++) {
    const response = await request(http)
      .get('/api/auth/activity')
      .set('Authorization', `Bearer ${token}`)
      .expect(200);
    const items = response.body.items as Item[];
    if (done(items)) return items;
    if (attempt > 400) throw new Error(`gave up waiting: ${JSON.stringify(items).slice(0, 800)}`);
    await sleep(50);
  }
}

describe('security activity log against hostile callers', () => {
  let auth: AuthApp;
  let adminCookie: string;

  beforeAll(async () => {
    auth = await startAuthApp('activity-hostile');
    adminCookie = (await loginWithCookie(auth.http, 'admin', 'admin-password')).cookie;
  });

  afterAll(async () => {
    await auth?.close();
  });

  it("never shows a user who logged in over someone's planted session to that someone", async () => {
    const mallory = await createUser(auth.http, adminCookie);
    const victim = await createUser(auth.http, adminCookie);
    const planted = await loginWithBearer(auth.http, mallory.username, mallory.password);
    // The victim's browser holds Mallory's session cookie (planted) when the victim logs in:
    // the login revokes it, as it revokes any token the client held.
    await request(auth.http)
      .post('/api/auth/login')
      .set('Origin', ORIGIN)
      .set('Cookie', `cr_session=${planted.token}`)
      .send({ username: victim.username, password: victim.password })
      .expect(200);
    const again = await loginWithBearer(auth.http, mallory.username, mallory.password);
    const items = await activityUntil(auth.http, again.token, (found) =>
      found.some(
        (item) => item.type === 'session.revoked' && item.sessionId === planted.body.session.id,
      ),
    );
    const ended = items.find((item) => item.sessionId === planted.body.session.id && item.reason);
    expect(ended).toMatchObject({ type: 'session.revoked', reason: 'login', actor: null });
    expect(JSON.stringify(items)).not.toContain(victim.id);
    expect(JSON.stringify(items)).not.toContain(victim.username);

    // Her own sessions that she ends herself still name her, and an administrator's action
    // names the administrator.
    await request(auth.http)
      .post('/api/auth/login')
      .set('Origin', ORIGIN)
      .set('Cookie', `cr_session=${again.token}`)
      .send({ username: mallory.username, password: mallory.password })
      .expect(200);
    const third = await loginWithBearer(auth.http, mallory.username, mallory.password);
    await request(auth.http)
      .delete(`/api/auth/users/${mallory.id}/sessions`)
      .set('Cookie', adminCookie)
      .set('Origin', ORIGIN)
      .expect(204);
    const fourth = await loginWithBearer(auth.http, mallory.username, mallory.password);
    const later = await activityUntil(auth.http, fourth.token, (found) =>
      found.some((item) => item.type === 'sessions.revoked-all'),
    );
    expect(later.find((item) => item.sessionId === again.body.session.id && item.reason)).toEqual(
      expect.objectContaining({
        reason: 'login',
        actor: { id: mallory.id, username: mallory.username },
      }),
    );
    expect(later.find((item) => item.type === 'sessions.revoked-all')).toMatchObject({
      reason: 'admin',
      actor: { username: 'admin' },
    });
    expect(third.body.session.id).toEqual(expect.any(String));
  });

  it('keeps an event it could not store while the database was away, and stores it once', async () => {
    const events = auth.app.get(DataSource).getRepository(SecurityEvent);
    const activity = auth.app.get(SecurityActivityService);
    const operator = await openDataSource(
      databaseOptions(auth.databaseUrl, { entities: [], migrations: [] }) as DataSourceOptions,
    );
    const userId = randomUUID();
    try {
      await operator.query('ALTER TABLE auth_security_events RENAME TO auth_security_away');
      const recorded = Array.from({ length: 20 }, (_, n) =>
        activity.record({ type: 'password.changed', userId, actor: null, reason: `r-${n}` }),
      );
      // The action that recorded it is answered as usual: the log never fails it.
      await expect(Promise.all(recorded)).resolves.toBeDefined();
      await operator.query('ALTER TABLE auth_security_away RENAME TO auth_security_events');
      let stored: SecurityEvent[] = [];
      for (let attempt = 0; attempt < 400 && stored.length < 20; attempt++) {
        await sleep(50);
        stored = await events.findBy({ userId });
      }
      expect(stored.map((row) => row.reason).sort()).toEqual(
        Array.from({ length: 20 }, (_, n) => `r-${n}`).sort(),
      );
      // Retried ones are not stored twice, however often their first try is repeated.
      await sleep(300);
      expect(await events.countBy({ userId })).toBe(20);
    } finally {
      await operator
        .query('ALTER TABLE IF EXISTS auth_security_away RENAME TO auth_security_events')
        .catch(() => undefined);
      await operator.destroy();
    }
  });
});
