import request from 'supertest';
import type { App } from 'supertest/types';

import { PasswordService } from '../src/app/users/password.service';
import { UsersService } from '../src/app/users/users.service';

import { AuthApp, loginWithBearer, startAuthApp, strongPassword } from './auth-app';

const bearer = (token: string) => ({ Authorization: `Bearer ${token}` });

/**
 * Creating a user is granting access, as a role change is: an administrator demoted or disabled
 * while their creation is on its way (its password being hashed, after the guard let it in)
 * must not create anyone afterwards, least of all another administrator whose password they
 * know, which would keep them admin for good.
 */
describe('an administrator demoted or disabled while creating a user', () => {
  let auth: AuthApp;
  let http: App;
  let demoToken: string;

  beforeAll(async () => {
    auth = await startAuthApp('admin-demoted-while-creating');
    http = auth.http;
    demoToken = (await loginWithBearer(http, 'admin', 'admin-password')).token;
  });

  afterAll(async () => {
    await auth?.close();
  });

  afterEach(() => jest.restoreAllMocks());

  let made = 0;

  /** A fresh administrator, signed in. */
  async function newAdmin() {
    const username = `creator-${process.pid}-${made++}`;
    const password = strongPassword();
    const created = await request(http)
      .post('/api/auth/users')
      .set(bearer(demoToken))
      .send({ username, password, roles: ['admin'] })
      .expect(201);
    const token = (await loginWithBearer(http, username, password)).token;
    return { id: created.body.id as string, token };
  }

  /**
   * Runs `meanwhile` while the password of the creation that sends `password` is being hashed
   * (after the guard let it in, before anything is written): the race, made deterministic.
   */
  function whileHashing(password: string, meanwhile: () => Promise<unknown>): void {
    const passwords = auth.app.get(PasswordService);
    const hash = passwords.hash.bind(passwords);
    jest.spyOn(passwords, 'hash').mockImplementation(async (given) => {
      const hashed = await hash(given);
      if (given === password) await meanwhile();
      return hashed;
    });
  }

  it.each<[string, string, object]>([
    ['demoted', 'roles', { roles: ['customer'] }],
    ['disabled', 'disabled', { disabled: true }],
  ])('creates nobody once the creator was %s, and answers 403', async (_what, route, body) => {
    const creator = await newAdmin();
    const username = `planted-${process.pid}-${made++}`;
    const password = strongPassword();
    whileHashing(password, () =>
      request(http)
        .put(`/api/auth/users/${creator.id}/${route}`)
        .set(bearer(demoToken))
        .send(body)
        .expect(200),
    );
    const created = await request(http)
      .post('/api/auth/users')
      .set(bearer(creator.token))
      .send({ username, password, roles: ['admin'] });
    expect(created.status).toBe(403);
    expect(created.body).toEqual({ statusCode: 403, message: expect.any(String) });
    expect(await auth.app.get(UsersService).findByUsername(username)).toBeNull();
  });

  it('creates the user when the creator is still an enabled administrator', async () => {
    const creator = await newAdmin();
    const username = `kept-${process.pid}-${made++}`;
    const password = strongPassword();
    whileHashing(password, () =>
      request(http)
        .put(`/api/auth/users/${creator.id}/roles`)
        .set(bearer(demoToken))
        .send({ roles: ['admin', 'support'] })
        .expect(200),
    );
    await request(http)
      .post('/api/auth/users')
      .set(bearer(creator.token))
      .send({ username, password, roles: ['admin'] })
      .expect(201);
    await loginWithBearer(http, username, password);
  });
});
