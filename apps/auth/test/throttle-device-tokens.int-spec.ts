import { createHmac } from 'node:crypto';

import request from 'supertest';

import { createUser, ORIGIN } from './auth-app';
import { throttledAuthApp } from './throttle-app';

/** Every `Set-Cookie` value of a response. */
function setCookies(response: request.Response): string[] {
  return ([] as string[]).concat(response.headers['set-cookie'] ?? []);
}

/** The device cookie a response sets, whole (attributes included). */
function deviceSetCookie(response: request.Response): string {
  const cookie = setCookies(response).find((value) => value.startsWith('cr_device='));
  if (!cookie) throw new Error('no device cookie in the response');
  return cookie;
}

/** The value of the device cookie a response sets. */
function deviceTokenOf(response: request.Response): string {
  return decodeURIComponent(deviceSetCookie(response).split(';')[0].slice('cr_device='.length));
}

let networkCount = 0;

/** A client network no test has used yet: each is a stranger to every user. */
function freshNetwork(): string {
  networkCount++;
  return `10.77.${networkCount >> 8}.${networkCount & 255}`;
}

/**
 * Past the per-username ceiling, networks a user has not logged in from share one place per
 * wait, which a stranger polling from fresh networks keeps taking. A device the owner logged in
 * with (a signed device token, in a cookie or a header) is exempt, so the owner gets in from a
 * new network while the attack goes on; a token that is forged, another user's, spent on
 * failures, or older than the password is a stranger's.
 */
describe('device tokens at the login ceiling', () => {
  const auth = throttledAuthApp('throttle-device', {
    LOGIN_USER_CEILING: '3',
    LOGIN_DELAY_FIRST: '60',
    LOGIN_DELAY_MAX: '60',
    LOGIN_CHECK_WAIT: '0',
    LOGIN_DEVICE_MAX_FAILURES: '3',
  });

  /** A cookie login from `ip`, with the device cookie `device` when given. */
  const cookieLogin = (username: string, password: string, ip: string, device?: string) => {
    const call = request(auth.http)
      .post('/api/auth/login')
      .set('Origin', ORIGIN)
      .set('X-Forwarded-For', ip)
      .send({ username, password });
    return device === undefined ? call : call.set('Cookie', `cr_device=${device}`);
  };

  /** A bearer login from `ip`, with the device token `device` in its header when given. */
  const bearerLogin = (username: string, password: string, ip: string, device?: string) => {
    const call = auth.login(username, password, ip);
    return device === undefined ? call : call.set('X-Device-Token', device);
  };

  /**
   * A stranger guesses from fresh networks until the ceiling holds, then keeps polling from
   * fresh networks: every later attempt from a network the owner has not logged in from waits.
   */
  async function attack(username: string): Promise<void> {
    for (let i = 0; i < 3; i++) {
      await bearerLogin(username, `guess-${i}`, freshNetwork()).expect(401);
    }
    for (let i = 0; i < 5; i++) {
      await bearerLogin(username, `guess-more-${i}`, freshNetwork()).expect(429);
    }
  }

  it('lets the owner in from a new network with the device cookie while a stranger keeps the ceiling busy', async () => {
    const user = await createUser(auth.http, auth.adminCookie);
    const home = freshNetwork();
    const device = deviceTokenOf(await cookieLogin(user.username, user.password, home).expect(200));

    await attack(user.username);

    // Travelling: a network the owner never logged in from.
    const away = freshNetwork();
    await cookieLogin(user.username, user.password, away).expect(429);
    const admitted = await cookieLogin(user.username, user.password, freshNetwork(), device);
    expect(admitted.status).toBe(200);
    expect(admitted.body.user.username).toBe(user.username);
    // And a new device token with it, which works as well.
    const renewed = deviceTokenOf(admitted);
    await cookieLogin(user.username, user.password, freshNetwork(), renewed).expect(200);
  });

  it('lets the owner in with their device cookie behind one a sibling subdomain planted in front', async () => {
    const user = await createUser(auth.http, auth.adminCookie);
    const device = deviceTokenOf(
      await cookieLogin(user.username, user.password, freshNetwork()).expect(200),
    );
    // The planter's own valid token (of its own account), set at a longer path: sent first.
    const planter = await createUser(auth.http, auth.adminCookie);
    const planted = deviceTokenOf(
      await cookieLogin(planter.username, planter.password, freshNetwork()).expect(200),
    );
    await attack(user.username);

    for (const first of [planted, 'x']) {
      const admitted = await cookieLogin(
        user.username,
        user.password,
        freshNetwork(),
        `${first}; cr_device=${device}`,
      );
      expect({ first: first === 'x' ? 'x' : 'planted', status: admitted.status }).toEqual({
        first: first === 'x' ? 'x' : 'planted',
        status: 200,
      });
    }
    // The planted token alone exempts no one but its own user.
    await cookieLogin(user.username, user.password, freshNetwork(), planted).expect(429);
  });

  it('gives a bearer client its device token in the body, and exempts it when sent back as X-Device-Token', async () => {
    const user = await createUser(auth.http, auth.adminCookie);
    const first = await bearerLogin(user.username, user.password, freshNetwork()).expect(200);
    expect(setCookies(first)).toEqual([]);
    const device = first.body.deviceToken as string;
    expect(device).toMatch(/^cd1\./);

    await attack(user.username);

    await bearerLogin(user.username, user.password, freshNetwork()).expect(429);
    const admitted = await bearerLogin(user.username, user.password, freshNetwork(), device);
    expect(admitted.status).toBe(200);
    expect(admitted.body.token).toEqual(expect.any(String));
  });

  it("gives no exemption to a forged, tampered or another user's device token", async () => {
    const owner = await createUser(auth.http, auth.adminCookie);
    const other = await createUser(auth.http, auth.adminCookie);
    const device = deviceTokenOf(
      await cookieLogin(owner.username, owner.password, freshNetwork()).expect(200),
    );
    const othersDevice = deviceTokenOf(
      await cookieLogin(other.username, other.password, freshNetwork()).expect(200),
    );
    await attack(owner.username);

    const [prefix, id, epoch, expires, signature] = device.split('.');
    const flip = (text: string, at: number) =>
      text.slice(0, at) + (text[at] === 'A' ? 'B' : 'A') + text.slice(at + 1);
    // Signed as auth would sign it, with a secret other than its own.
    const payload = `${prefix}.${id}.${epoch}.${expires}`;
    const otherSecret = createHmac('sha256', 'another-secret-of-at-least-32-characters!!')
      .update(`${payload}|${owner.username.toLowerCase()}`)
      .digest('base64url');
    const longer = String(Number(expires) + 86_400);
    const forged = {
      "another user's": othersDevice,
      'signature tampered': [prefix, id, epoch, expires, flip(signature, 10)].join('.'),
      'id changed': [prefix, flip(id, 3), epoch, expires, signature].join('.'),
      'epoch changed': [prefix, id, `${epoch}x`, expires, signature].join('.'),
      'lifetime extended': [prefix, id, epoch, longer, signature].join('.'),
      'signed with another secret': `${payload}.${otherSecret}`,
      'not a token': 'garbage',
      'far too long': `cd1.${'A'.repeat(4000)}`,
    };
    for (const [what, token] of Object.entries(forged)) {
      const byCookie = await cookieLogin(owner.username, owner.password, freshNetwork(), token);
      expect({ what, status: byCookie.status }).toEqual({ what, status: 429 });
      const byHeader = await bearerLogin(owner.username, owner.password, freshNetwork(), token);
      expect({ what, status: byHeader.status }).toEqual({ what, status: 429 });
    }
    // The genuine token, under the same attack, still lets its owner in.
    await cookieLogin(owner.username, owner.password, freshNetwork(), device).expect(200);
  });

  it('gives no exemption to a device token past its failure budget, and leaves the owner’s others alone', async () => {
    const user = await createUser(auth.http, auth.adminCookie);
    const stolen = deviceTokenOf(
      await cookieLogin(user.username, user.password, freshNetwork()).expect(200),
    );
    const phone = deviceTokenOf(
      await cookieLogin(user.username, user.password, freshNetwork()).expect(200),
    );
    await attack(user.username);

    // Whoever holds the stolen cookie gets LOGIN_DEVICE_MAX_FAILURES guesses past the ceiling...
    for (let i = 0; i < 3; i++) {
      await cookieLogin(user.username, `stolen-guess-${i}`, freshNetwork(), stolen).expect(401);
    }
    // ...and no more: the token now waits like a stranger, even with the right password.
    const spent = await cookieLogin(user.username, user.password, freshNetwork(), stolen);
    expect(spent.status).toBe(429);
    expect(Number(spent.headers['retry-after'])).toBeGreaterThan(0);
    await cookieLogin(user.username, user.password, freshNetwork(), phone).expect(200);
  });

  it('gives no exemption to device tokens issued before a password change', async () => {
    const user = await createUser(auth.http, auth.adminCookie);
    const home = freshNetwork();
    const old = deviceTokenOf(await cookieLogin(user.username, user.password, home).expect(200));
    const newPassword = await auth.changePassword(user, home);

    await attack(user.username);

    await cookieLogin(user.username, newPassword, freshNetwork(), old).expect(429);
    // A token got with the new password (at home, the network the change was made from) works.
    const current = deviceTokenOf(await cookieLogin(user.username, newPassword, home).expect(200));
    await cookieLogin(user.username, newPassword, freshNetwork(), current).expect(200);
  });

  it('gives a bearer client that changed the password a device token in the body, and one of a password changed since no exemption', async () => {
    const user = await createUser(auth.http, auth.adminCookie);
    const home = freshNetwork();
    const login = await cookieLogin(user.username, user.password, home).expect(200);
    const session = setCookies(login).find((value) => value.startsWith('cr_session='));
    const cookieChange = await request(auth.http)
      .post('/api/auth/password')
      .set('Origin', ORIGIN)
      .set('X-Forwarded-For', home)
      .set('Cookie', [session!.split(';')[0], `cr_device=${deviceTokenOf(login)}`])
      .send({ currentPassword: user.password, newPassword: 'a cookie changed this one' })
      .expect(200);
    const byCookie = deviceTokenOf(cookieChange);

    const bearer = await bearerLogin(user.username, 'a cookie changed this one', home).expect(200);
    const bearerChange = await request(auth.http)
      .post('/api/auth/password')
      .set('X-Forwarded-For', home)
      .set('Authorization', `Bearer ${bearer.body.token}`)
      .send({
        currentPassword: 'a cookie changed this one',
        newPassword: 'a bearer changed this one',
      })
      .expect(200);
    const byBody = bearerChange.body.deviceToken as string;
    expect(setCookies(bearerChange).some((value) => value.startsWith('cr_device='))).toBe(false);

    await attack(user.username);

    // The token of the first change is of a password changed since: a stranger's.
    await cookieLogin(user.username, 'a bearer changed this one', freshNetwork(), byCookie).expect(
      429,
    );
    await bearerLogin(user.username, 'a bearer changed this one', freshNetwork(), byBody).expect(
      200,
    );
  });

  it('gives the device a cookie password change was made from a token of the new password', async () => {
    const user = await createUser(auth.http, auth.adminCookie);
    const home = freshNetwork();
    const login = await cookieLogin(user.username, user.password, home).expect(200);
    const session = setCookies(login).find((value) => value.startsWith('cr_session='));
    const change = await request(auth.http)
      .post('/api/auth/password')
      .set('Origin', ORIGIN)
      .set('X-Forwarded-For', home)
      .set('Cookie', session!.split(';')[0])
      .send({ currentPassword: user.password, newPassword: 'the password changed here' })
      .expect(200);

    await attack(user.username);

    await cookieLogin(
      user.username,
      'the password changed here',
      freshNetwork(),
      deviceTokenOf(change),
    ).expect(200);
  });

  it('sets the device cookie HttpOnly, SameSite=Strict, on the auth path, long-lived, apart from the session cookie', async () => {
    const user = await createUser(auth.http, auth.adminCookie);
    const response = await cookieLogin(user.username, user.password, freshNetwork()).expect(200);
    const cookies = setCookies(response);
    expect(cookies).toHaveLength(2);
    expect(cookies[0]).toMatch(/^cr_session=cr1\./);
    const device = deviceSetCookie(response);
    expect(device).toMatch(/^cr_device=cd1\.[\w-]{22}\.[\w-]+\.\d+\.[\w-]{43}; /);
    const attributes = device
      .split('; ')
      .slice(1)
      .map((attribute) => attribute.split('=')[0].toLowerCase());
    expect(attributes.sort()).toEqual(['httponly', 'max-age', 'path', 'samesite']);
    expect(device).toMatch(/; HttpOnly(;|$)/);
    expect(device).toMatch(/; SameSite=Strict(;|$)/);
    expect(device).toMatch(/; Path=\/api\/auth(;|$)/);
    // As long as a known network is remembered: LOGIN_KNOWN_NETWORK_TTL, 30 days by default.
    expect(device).toMatch(/; Max-Age=2592000(;|$)/);
    expect(response.body.deviceToken).toBeUndefined();
    // A failed login sets no device cookie.
    const failed = await cookieLogin(user.username, 'not the password', freshNetwork());
    expect(failed.status).toBe(401);
    expect(setCookies(failed)).toEqual([]);
  });
});
