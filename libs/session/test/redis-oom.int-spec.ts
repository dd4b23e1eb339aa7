import { Controller, Get, INestApplication, Post } from '@nestjs/common';
import { Redis } from 'ioredis';
import request from 'supertest';

import {
  CurrentUser,
  IssuedSession,
  Public,
  SessionService,
  SessionStoreUnavailableError,
  SessionUser,
} from '../src';
import { RedisServerProcess, startRedisServer } from '../src/testing';
import { guardedApp, uniquePrefix } from './store-contract';

jest.setTimeout(30_000);

const alice = { id: 'u-oom-alice', username: 'alice', roles: ['customer'] };
const bob = { id: 'u-oom-bob', username: 'bob', roles: ['admin'] };
const carol = { id: 'u-oom-carol', username: 'carol', roles: ['customer'] };
const dave = { id: 'u-oom-dave', username: 'dave', roles: ['customer'] };

@Controller('oom')
class OomController {
  constructor(private readonly sessions: SessionService) {}

  @Get('me')
  me(@CurrentUser() user: SessionUser) {
    return user;
  }

  @Public()
  @Post('login')
  async login() {
    return { token: (await this.sessions.create(carol)).token };
  }
}

/**
 * Redis past `maxmemory` under `noeviction`, the policy the store asks for: it refuses writes
 * that may grow memory. Sessions must still be checked and, above all, ended: a revocation
 * frees memory, and may be what the moment calls for. New sessions are refused (503).
 */
describe('RedisSessionStore while Redis is out of memory (noeviction)', () => {
  let server: RedisServerProcess;
  let app: INestApplication;
  let sessions: SessionService;
  let admin: Redis;
  const keyPrefix = uniquePrefix();
  const issued: Record<string, IssuedSession> = {};

  beforeAll(async () => {
    server = await startRedisServer(undefined, ['--maxmemory-policy', 'noeviction']);
    app = await guardedApp({ redis: { url: server.url }, keyPrefix }, [OomController]);
    sessions = app.get(SessionService);
    admin = new Redis(server.url);
    for (const name of ['validated', 'revoked', 'roles', 'kept']) {
      issued[name] = await sessions.create(name === 'kept' ? dave : alice);
    }
    issued['all1'] = await sessions.create(bob);
    issued['all2'] = await sessions.create(bob);
    const filler = 'x'.repeat(64 * 1024);
    for (let i = 0; i < 32; i++) await admin.set(`filler:${i}`, filler);
    await admin.config('SET', 'maxmemory', '1mb');
  });

  afterAll(async () => {
    admin?.disconnect();
    await app?.close();
    await server?.dispose();
  });

  beforeEach(async () => {
    // Every test runs while Redis refuses plain writes: nothing it ends frees enough.
    await expect(admin.set('probe', 'x')).rejects.toThrow(/^OOM/);
  });

  const me = (token: string) =>
    request(app.getHttpServer()).get('/oom/me').set('Authorization', `Bearer ${token}`);

  it('validates sessions: guarded routes answer 200', async () => {
    const { token } = issued['validated'];
    expect(await sessions.validate(token)).toMatchObject({ userId: alice.id });
    expect((await me(token)).status).toBe(200);
  });

  it('revokes a session, which is dead after', async () => {
    const { token } = issued['revoked'];
    expect(await sessions.revoke(token)).toBe(true);
    expect(await sessions.validate(token)).toBeNull();
    expect((await me(token)).status).toBe(401);
  });

  it('revokes every session of a user', async () => {
    expect(await sessions.revokeAllForUser(bob.id)).toBe(2);
    expect(await sessions.validate(issued['all1'].token)).toBeNull();
    expect(await sessions.validate(issued['all2'].token)).toBeNull();
  });

  it('revokes all of a user with no session left, and moves their generation', async () => {
    // Nothing to delete: the generation, which refuses a login already under way, still moves.
    expect(await sessions.revokeAllForUser(carol.id, { reason: 'disable' })).toBe(0);
    const [generation] = await admin.keys(`${keyPrefix}*:g:${carol.id}`);
    expect(await admin.get(generation)).toBe('1');
  });

  it('revokes the other sessions of a user whose only session is the one kept', async () => {
    const kept = issued['kept'];
    expect(await sessions.revokeAllForUser(dave.id, { except: kept.session.id })).toBe(0);
    expect(await sessions.validate(kept.token)).toMatchObject({ userId: dave.id });
  });

  it('changes roles: the next validation sees them', async () => {
    const { token } = issued['roles'];
    expect(await sessions.setRolesForUser(alice.id, ['auditor'])).toBeGreaterThan(0);
    expect(await sessions.validate(token)).toMatchObject({ roles: ['auditor'] });
    // A user with no session at all: the change reaches only the generation.
    expect(await sessions.setRolesForUser(carol.id, ['admin'])).toBe(0);
  });

  it('refuses new sessions as unavailable: a login answers 503', async () => {
    await expect(sessions.create(alice)).rejects.toBeInstanceOf(SessionStoreUnavailableError);
    const login = await request(app.getHttpServer()).post('/oom/login');
    expect(login.status).toBe(503);
  });
});
