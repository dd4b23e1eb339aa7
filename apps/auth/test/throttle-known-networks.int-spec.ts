import { LoginThrottleService } from '../src/app/auth/login-throttle.service';
import { TooManyAttemptsException } from '../src/app/common/too-many-attempts.exception';
import { createUser } from './auth-app';
import { throttledAuthApp } from './throttle-app';

/**
 * Networks a user logged in from are exempt from the per-username ceiling. Whoever knew the
 * password could log in from as many networks as they like; once the password changes, those
 * networks must be strangers again, or each of them keeps its own guesses at the new password
 * (the pair limit, per network) past the ceiling that holds every stranger back.
 */
describe('networks remembered for the ceiling, across a password change', () => {
  const auth = throttledAuthApp('throttle-known', {
    LOGIN_MAX_FAILURES_PER_USER: '5',
    LOGIN_USER_CEILING: '3',
    LOGIN_DELAY_FIRST: '60',
    LOGIN_DELAY_MAX: '60',
    LOGIN_CHECK_WAIT: '0',
  });

  it('treats the networks of the old password as strangers, but keeps the one it was changed from', async () => {
    const user = await createUser(auth.http, auth.adminCookie);
    // Someone who has the password signs in from 4 networks of their own.
    const theirs = [1, 2, 3, 4].map((net) => `2001:db8:a77:${net}::1`);
    for (const ip of theirs) {
      await auth.login(user.username, user.password, ip).expect(200);
    }
    // The owner changes the password from home.
    const home = '203.0.113.50';
    const newPassword = await auth.changePassword(user, home);

    // Strangers reach the ceiling; the next stranger waits.
    for (let i = 1; i <= 3; i++) {
      await auth.login(user.username, 'wrong-password', `192.0.2.${i}`).expect(401);
    }
    await auth.login(user.username, 'wrong-password', '192.0.2.4').expect(429);

    // Guesses at the new password from the networks of the old one: 5 each by the pair limit,
    // 20 in all, were they still remembered. None reaches the password check.
    const statuses: number[] = [];
    for (const ip of theirs) {
      for (let i = 0; i < 5; i++) {
        statuses.push((await auth.login(user.username, `guess-${i}`, ip)).status);
      }
    }
    expect(statuses.filter((status) => status !== 429)).toEqual([]);
    await auth.login(user.username, newPassword, theirs[0]).expect(429);

    // The owner, at home, is not held back.
    await auth.login(user.username, 'a typo', home).expect(401);
    await auth.login(user.username, newPassword, home).expect(200);
  });

  it('does not remember a network whose check of the old password ends after the change', async () => {
    const throttle = auth.app.get(LoginThrottleService);
    const username = `known-race-${process.pid}`;
    const late = '198.51.100.77';
    const home = '198.51.100.78';
    // A login with the old password is being checked when the password changes.
    const racing = await throttle.begin(username, late);
    await throttle.forgetNetworks(username, home);
    await racing.succeed();

    for (let i = 1; i <= 3; i++) {
      await throttle.begin(username, `192.0.2.${100 + i}`);
    }
    await expect(throttle.begin(username, late)).rejects.toBeInstanceOf(TooManyAttemptsException);
    await expect(throttle.begin(username, home)).resolves.toBeDefined();
  });
});
