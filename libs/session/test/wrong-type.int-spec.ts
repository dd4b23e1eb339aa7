import { Controller, Get, INestApplication } from '@nestjs/common';
import { Redis } from 'ioredis';
import request from 'supertest';

import { CurrentUser, SessionService, SessionUser } from '../src';
import { RedisServerProcess, startRedisServer } from '../src/testing';
import { guardedApp, sessionKey, uniquePrefix } from './store-contract';

jest.setTimeout(30_000);

const alice = { id: 'u-wrongtype-alice', username: 'alice', roles: ['customer'] };

@Controller('wrong-type')
class WrongTypeController {
  @Get('me')
  me(@CurrentUser() user: SessionUser) {
    return user;
  }
}

/**
 * A session's key holding something else than a hash (written by hand, or by another program
 * sharing the Redis): Redis answers WRONGTYPE to the validation. That is a damaged session,
 * as a hash damaged by hand is, not a store that is down: 401, and the user's other sessions
 * are served as before.
 */
describe('SessionGuard when a session key holds another type', () => {
  let server: RedisServerProcess;
  let app: INestApplication;
  let admin: Redis;
  const keyPrefix = uniquePrefix();

  beforeAll(async () => {
    server = await startRedisServer();
    app = await guardedApp({ redis: { url: server.url }, keyPrefix }, [WrongTypeController]);
    admin = new Redis(server.url);
  });

  afterAll(async () => {
    admin?.disconnect();
    await app?.close();
    await server?.dispose();
  });

  const me = (token: string) =>
    request(app.getHttpServer()).get('/wrong-type/me').set('Authorization', `Bearer ${token}`);

  it.each([
    ['a string', (key: string) => admin.set(key, 'not a session')],
    ['a list', (key: string) => admin.rpush(key, 'u-wrongtype-alice', 'alice')],
    ['a set', (key: string) => admin.sadd(key, 'u-wrongtype-alice')],
  ])('answers 401 for %s, and serves the user’s other sessions', async (_kind, write) => {
    const sessions = app.get(SessionService);
    const damaged = await sessions.create(alice);
    const other = await sessions.create(alice);
    const key = sessionKey(keyPrefix, damaged.session.id);
    await admin.del(key);
    await write(key);

    const refused = await me(damaged.token);
    expect(refused.status).toBe(401);
    expect(refused.body).toMatchObject({ statusCode: 401 });
    await me(other.token).expect(200);
    // Nothing was written over what is there.
    expect(await admin.type(key)).not.toBe('hash');
  });
});
