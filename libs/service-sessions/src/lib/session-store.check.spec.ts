import { Logger } from '@nestjs/common';

import { StartupError, validateEnv } from '@cloakroom/service-kit';
import { SessionStore, SessionStoreMisconfiguredError } from '@cloakroom/session';

import { SessionRedisEnv, SessionRemoteEnv } from './session.env';
import { SessionStoreCheck } from './session-store.check';

const down = { verify: () => Promise.reject(new Error('ECONNREFUSED')) } as unknown as SessionStore;
const up = { verify: () => Promise.resolve() } as unknown as SessionStore;

async function failureOf(check: SessionStoreCheck): Promise<unknown> {
  return check.onApplicationBootstrap().then(
    () => null,
    (error: unknown) => error,
  );
}

describe('SessionStoreCheck', () => {
  afterEach(() => jest.restoreAllMocks());

  it('lets start-up go on when the store answers', async () => {
    const env = validateEnv(SessionRedisEnv, {});
    expect(await failureOf(new SessionStoreCheck(up, env))).toBeNull();
  });

  it('stops start-up when Redis does not answer, saying where it looked, password hidden', async () => {
    const env = validateEnv(SessionRedisEnv, { REDIS_URL: 'redis://:hunter2@127.0.0.1:6398' });
    const failure = await failureOf(new SessionStoreCheck(down, env));
    expect(failure).toBeInstanceOf(StartupError);
    const message = (failure as Error).message;
    expect(message).toContain('cannot reach Redis at redis://127.0.0.1:6398');
    expect(message).toContain('redis-server');
    expect(message).not.toContain('hunter2');
  });

  it("stops start-up with the store's own words when Redis may evict its keys", async () => {
    const evicting = {
      verify: () =>
        Promise.reject(new SessionStoreMisconfiguredError('maxmemory-policy allkeys-lru')),
    } as unknown as SessionStore;
    const env = validateEnv(SessionRedisEnv, {});
    const failure = await failureOf(new SessionStoreCheck(evicting, env));
    expect(failure).toBeInstanceOf(StartupError);
    expect((failure as Error).message).toBe('maxmemory-policy allkeys-lru');
  });

  it("only warns when the auth service's RPC does not answer", async () => {
    const warned = jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
    const env = validateEnv(SessionRemoteEnv, { AUTH_RPC_PORT: '4999' });
    expect(await failureOf(new SessionStoreCheck(down, env))).toBeNull();
    expect(warned).toHaveBeenCalledWith(expect.stringContaining('tcp://127.0.0.1:4999'));
  });
});
