import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { ConflictException } from '@nestjs/common';
import Database from 'better-sqlite3';

import { PasswordService } from '../src/app/users/password.service';
import { UsersService } from '../src/app/users/users.service';
import { AuthApp, startAuthApp } from './auth-app';

const dir = mkdtempSync(join(tmpdir(), 'auth-sqlite-writes-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Offsets, in microtask turns, at which the concurrent writes start. */
const OFFSETS = 30;
/** The id of the session a password change is made from (none exists: nothing revokes here). */
const SOME_SESSION = `AAAAAAAA.${'A'.repeat(43)}`;

/**
 * TypeORM's SQLite drivers run every query of the service on one connection, and `save` opens
 * a transaction there only when none is open: a write made meanwhile ran inside another
 * request's transaction, was answered before it committed, and was rolled back with it when
 * that request failed — two admins creating one username at once (the loser's 409) undid a
 * password change, a demotion or another account answered a moment before.
 */
describe('auth on SQLite under concurrent writes', () => {
  const file = join(dir, 'auth.sqlite');
  let auth: AuthApp;
  let users: UsersService;
  let made = 0;

  beforeAll(async () => {
    auth = await startAuthApp('users-sqlite-writes', { AUTH_DATABASE_URL: `sqlite:${file}` });
    users = auth.app.get(UsersService);
    // The hash is argon2 work off the event loop: its end would decide the interleaving, not
    // the offsets. One real hash, handed out at once.
    const passwords = auth.app.get(PasswordService);
    const hash = await passwords.hash('a-password-of-the-test-000');
    jest.spyOn(passwords, 'hash').mockImplementation(async () => hash);
  });

  afterAll(async () => {
    jest.restoreAllMocks();
    await auth?.close();
  });

  /** What another process (or auth after a crash) reads in the file now. */
  function committed<T>(sql: string, ...params: unknown[]): T[] {
    const reader = new Database(file, { readonly: true });
    try {
      return reader.prepare(sql).all(...params) as T[];
    } finally {
      reader.close();
    }
  }

  const after = async <T>(turns: number, work: () => Promise<T>): Promise<T> => {
    for (let i = 0; i < turns; i++) await Promise.resolve();
    return work();
  };

  const fresh = (what: string) => `${what}-${process.pid}-${made++}`;
  const newUser = (username: string, roles = ['customer']) =>
    users.create({ username, password: 'a-password-of-the-test-000', roles });

  /** Two creations of one new name at once: one is refused with 409 (the unique index). */
  async function collide(): Promise<void> {
    const name = fresh('taken');
    const outcomes = await Promise.allSettled([newUser(name), newUser(name)]);
    expect(outcomes.filter(({ status }) => status === 'fulfilled')).toHaveLength(1);
    expect(outcomes.find(({ status }) => status === 'rejected')).toMatchObject({
      reason: expect.any(ConflictException),
    });
  }

  it('keeps every account it created when a concurrent creation of one name loses', async () => {
    const lost: string[] = [];
    for (let offset = 0; offset < OFFSETS; offset++) {
      const names = [0, 1, 2].map(() => fresh('kept'));
      await Promise.all([
        collide(),
        ...names.map((name, i) => after(offset + i, () => newUser(name))),
      ]);
      const stored = new Set(
        committed<{ username: string }>('SELECT username FROM auth_users').map(
          (row) => row.username,
        ),
      );
      lost.push(...names.filter((name) => !stored.has(name)));
    }
    expect(lost).toEqual([]);
  });

  it('keeps every password change and demotion it answered when a concurrent creation loses', async () => {
    const admin = await newUser(fresh('admin'), ['admin']);
    const lost: string[] = [];
    for (let offset = 0; offset < OFFSETS; offset++) {
      const changed = await newUser(fresh('changing'));
      const demoted = await newUser(fresh('demoted'), ['admin']);
      const newHash = `$argon2id$v=19$m=19456,t=2,p=1$changed-${offset}`;
      const [, replaced] = await Promise.all([
        collide(),
        after(offset, async () => {
          jest.mocked(auth.app.get(PasswordService).hash).mockResolvedValueOnce(newHash);
          return users.replacePassword(changed, 'another-password-of-the-test', SOME_SESSION);
        }),
        after(offset + 1, () =>
          users.changeAccess(demoted.id, admin.id, { roles: ['customer'] }, async () => undefined),
        ),
      ]);
      expect(replaced).toBe(true);
      const [password] = committed<{ password_hash: string }>(
        'SELECT password_hash FROM auth_users WHERE id = ?',
        changed.id,
      );
      if (password?.password_hash !== newHash) lost.push(`password change at ${offset}`);
      const [roles] = committed<{ roles: string }>(
        'SELECT roles FROM auth_users WHERE id = ?',
        demoted.id,
      );
      if (roles?.roles !== '["customer"]') lost.push(`demotion at ${offset}`);
    }
    expect(lost).toEqual([]);
  });
});
