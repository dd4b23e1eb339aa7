import fc from 'fast-check';
import request from 'supertest';

import { AuthApp, createUser, loginWithCookie, startAuthApp } from './auth-app';
import { loginFrom, throttledAuthApp } from './throttle-app';

/** Every character `String.prototype.trim` drops: what autocomplete and pasting add around a name. */
const AROUND = [
  ' ',
  '\t',
  '\n',
  '\r',
  '\v',
  '\f',
  '\u00a0',
  '\u1680',
  '\u2000',
  '\u2007',
  '\u200a',
  '\u2028',
  '\u2029',
  '\u202f',
  '\u205f',
  '\u3000',
  '\ufeff',
];

const around = fc
  .array(fc.constantFrom(...AROUND), { maxLength: 4 })
  .map((characters) => characters.join(''));

/** How to spell a username: whitespace before it, which letters in upper case, whitespace after. */
type Spelling = [before: string, upper: boolean[], after: string];

const spelling = fc.tuple(around, fc.array(fc.boolean(), { minLength: 64, maxLength: 64 }), around);

function spell(username: string, [before, upper, after]: Spelling): string {
  return before + [...username].map((c, i) => (upper[i] ? c.toUpperCase() : c)).join('') + after;
}

describe('Login with a username spelled otherwise than it was created', () => {
  let auth: AuthApp;
  let adminCookie: string;
  let user: { id: string; username: string; password: string };
  let unknownUser: { status: number; body: unknown };

  beforeAll(async () => {
    auth = await startAuthApp('login-username-variants', {
      LOGIN_MAX_FAILURES_PER_USER: '100000',
      LOGIN_MAX_FAILURES_PER_IP: '100000',
      LOGIN_USER_CEILING: '100000',
    });
    adminCookie = (await loginWithCookie(auth.http, 'admin', 'admin-password')).cookie;
    user = await createUser(auth.http, adminCookie);
    const { status, body } = await loginFrom(auth.http, 'nobody-here', 'a-password', '10.1.0.1');
    unknownUser = { status, body };
    expect(status).toBe(401);
  });

  afterAll(async () => {
    await auth?.close();
  });

  it("signs in with the trailing space a phone's autocomplete adds", async () => {
    const { body } = await loginFrom(auth.http, `${user.username} `, user.password, '10.1.0.2');
    expect(body.user).toEqual({ id: user.id, username: user.username, roles: ['customer'] });
  });

  it("signs in to the account, or answers the unknown user's 401, for every spelling", async () => {
    await fc.assert(
      fc.asyncProperty(spelling, fc.boolean(), async (how, right) => {
        const password = right ? user.password : `${user.password}-wrong`;
        const sent = spell(user.username, how);
        const { status, body } = await loginFrom(auth.http, sent, password, '10.1.0.3');
        if (right) {
          expect({ status, id: body.user?.id }).toEqual({ status: 200, id: user.id });
        } else {
          expect({ status, body }).toEqual(unknownUser);
        }
      }),
      { numRuns: 60 },
    );
  });

  it("signs in only when the name is the account's once trimmed and lower-cased in ASCII", async () => {
    // Anything inserted anywhere: inner spaces, zero-width and Unicode look-alikes (the Kelvin
    // sign lower-cases to `k`), controls, NUL. The right password, so only the name decides.
    const inserted = fc.oneof(
      fc.string({ unit: 'grapheme', maxLength: 3 }),
      fc.constantFrom('\u212a', '\u0130', '\u017f', '\u200b', '\u0000', ' ', 'K'),
    );
    await fc.assert(
      fc.asyncProperty(spelling, fc.nat(), inserted, async (how, at, insert) => {
        const spelt = spell(user.username, how);
        const index = at % (spelt.length + 1);
        const sent = spelt.slice(0, index) + insert + spelt.slice(index);
        const core = sent.trim();
        const expected = /^[\x20-\x7e]*$/.test(core) && core.toLowerCase() === user.username;
        const { status, body } = await loginFrom(auth.http, sent, user.password, '10.1.0.4');
        if (expected) {
          expect({ status, id: body.user?.id }).toEqual({ status: 200, id: user.id });
        } else if (status === 400) {
          expect(body).toEqual(expect.objectContaining({ statusCode: 400 }));
        } else {
          expect({ status, body }).toEqual(unknownUser);
        }
      }),
      { numRuns: 150 },
    );
  });

  it('finds no second account under another spelling of a taken name', async () => {
    const response = await request(auth.http)
      .post('/api/auth/users')
      .set('Cookie', adminCookie)
      .set('Origin', 'http://localhost:3000')
      .send({
        username: `\u00a0${user.username.toUpperCase()} `,
        password: 'another-long-password-9',
        roles: ['customer'],
      });
    expect(response.status).toBe(409);
  });
});

describe('Login throttle over spellings of one username', () => {
  const auth = throttledAuthApp('login-username-variants-throttle', {
    LOGIN_MAX_FAILURES_PER_USER: '3',
    LOGIN_USER_CEILING: '1000',
    LOGIN_CHECK_WAIT: '0',
  });
  let client = 0;

  it('gives every spelling one per-username budget: spreading guesses does not widen it', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(spelling, { minLength: 5, maxLength: 5 }), async (hows) => {
        const user = await createUser(auth.http, auth.adminCookie);
        const from = `10.2.${Math.floor(client / 250)}.${(client++ % 250) + 1}`;
        const spellings = hows.map((how) => spell(user.username, how));
        for (const spelling of spellings.slice(0, 3)) {
          await auth.login(spelling, `${user.password}-wrong`, from).expect(401);
        }
        // The budget is spent whatever the spelling, and the right password does not pass it.
        await auth.login(spellings[3], `${user.password}-wrong`, from).expect(429);
        await auth.login(spellings[4], user.password, from).expect(429);
        await auth.login(user.username, user.password, from).expect(429);
      }),
      { numRuns: 8 },
    );
  });
});
