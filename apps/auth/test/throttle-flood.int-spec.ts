import { Redis } from 'ioredis';
import { DataSource } from 'typeorm';

import { SecurityActivityService } from '../src/app/activity/security-activity.service';
import { UsersService } from '../src/app/users/users.service';
import { REDIS_URL } from './auth-app';
import { throttledAuthApp } from './throttle-app';

/** Redis keys under the throttle's prefix that remember a recorded refusal. */
async function refusalNotices(prefix: string): Promise<string[]> {
  const redis = new Redis(REDIS_URL);
  try {
    const keys = await redis.keys(`${prefix}auth:throttle:*`);
    return keys.filter((key) => /(^|:)r(:|$)/.test(key.slice(`${prefix}auth:throttle:`.length)));
  } finally {
    redis.disconnect();
  }
}

/** Every Redis key under the throttle's prefix. */
async function throttleKeys(prefix: string): Promise<string[]> {
  const redis = new Redis(REDIS_URL);
  try {
    return await redis.keys(`${prefix}auth:throttle:*`);
  } finally {
    redis.disconnect();
  }
}

/**
 * A flood of refused logins (429) costs no password check; it must not cost a row of the
 * activity log (kept for months) and a Redis key each either, whatever usernames or client
 * networks it comes with.
 */
describe('login throttle under a flood of refused attempts', () => {
  const auth = throttledAuthApp('throttle-flood', {
    LOGIN_MAX_FAILURES_PER_IP: '3',
    LOGIN_USER_CEILING: '2',
    LOGIN_DELAY_FIRST: '60',
    LOGIN_DELAY_MAX: '60',
    LOGIN_CHECK_WAIT: '0',
  });

  const login = (username: string, forwardedFor: string) =>
    auth.login(username, 'not the password', forwardedFor);

  it('records one login.throttled per network however many usernames a sprayer makes up', async () => {
    const network = '198.51.100.7';
    for (let i = 0; i < 3; i++) {
      await login(`sprayed-${i}`, network).expect(401);
    }
    for (let i = 0; i < 25; i++) {
      await login(`made-up-${i}-${Math.random()}`, network).expect(429);
    }
    const [{ count }] = await auth.app
      .get(DataSource)
      .query(`SELECT count(*) AS count FROM auth_security_events WHERE type = 'login.throttled'`);
    expect(Number(count)).toBe(1);
    expect(await refusalNotices(auth.keyPrefix)).toHaveLength(1);
  });

  it('keeps no counter of a made-up username that a network over its limit refused', async () => {
    const network = '198.51.100.8';
    for (let i = 0; i < 3; i++) {
      await login(`counted-${i}`, network).expect(401);
    }
    const before = await throttleKeys(auth.keyPrefix);
    for (let i = 0; i < 25; i++) {
      await login(`refused-${i}-${Math.random()}`, network).expect(429);
    }
    const added = (await throttleKeys(auth.keyPrefix)).filter((key) => !before.includes(key));
    // The network's one notice of the refusal recorded, and nothing per made-up name.
    expect(added).toHaveLength(1);
  });

  it("records one login.throttled in a user's activity however many networks a guesser uses", async () => {
    const alice = await auth.app.get(UsersService).findByUsername('alice');
    if (!alice) throw new Error('the demo user alice is missing');
    await login('alice', '203.0.113.1').expect(401);
    await login('alice', '203.0.113.2').expect(401);
    for (let i = 10; i < 40; i++) {
      await login('alice', `203.0.113.${i}`).expect(429);
    }
    const activity = await auth.app.get(SecurityActivityService).list(alice.id, null);
    const types = activity.items.map((item) => item.type);
    expect(types.filter((type) => type === 'login.failed')).toHaveLength(2);
    expect(types.filter((type) => type === 'login.throttled')).toHaveLength(1);
  });
});
