import { INestMicroservice, Logger, Module } from '@nestjs/common';
import { Test } from '@nestjs/testing';

import { SessionModule, SessionService } from '../src';
import { SessionRpcModule, sessionRpcTransport } from '../src/rpc';
import { freePort, isAccepting, startTcpRelay, TcpRelay } from '../src/testing';
import {
  alice,
  REDIS_URL,
  sessionService,
  TEST_CAPABILITIES,
  testCertificates,
  uniquePrefix,
  until,
} from './store-contract';

const certificates = testCertificates();
afterAll(() => certificates.dispose());

/**
 * The session RPC as auth serves it, on `port`, its Redis at `redisUrl`, with the server (the
 * transport strategy) at hand for the shutdown's steps.
 */
async function startAuthRpc(port: number, keyPrefix: string, redisUrl = REDIS_URL) {
  @Module({
    imports: [
      SessionModule.forRoot({
        redis: { url: redisUrl },
        keyPrefix,
        storeTimeout: 10,
        events: false,
      }),
      SessionRpcModule.register({ capabilities: TEST_CAPABILITIES }),
    ],
  })
  class AuthRpcModule {}

  const transport = sessionRpcTransport({
    host: '127.0.0.1',
    port,
    tls: certificates.serverTls(),
  });
  const moduleRef = await Test.createTestingModule({ imports: [AuthRpcModule] }).compile();
  const microservice: INestMicroservice = moduleRef.createNestMicroservice({
    ...transport,
    logger: false,
  });
  await microservice.listen();
  return {
    server: transport.strategy,
    sessions: microservice.get(SessionService),
    close: () => microservice.close(),
  };
}

/**
 * A restart of auth (SIGTERM): its session RPC drains while the service drains its HTTP
 * requests, before Nest's hooks let go of Redis; then Nest closes it (`close`).
 */
describe('SessionRpcServer.drain, at a shutdown', () => {
  let warnings: jest.SpyInstance;

  beforeEach(() => {
    warnings = jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
  });

  afterEach(() => warnings.mockRestore());

  it('answers the calls in flight, then closes their connection and stops listening', async () => {
    const keyPrefix = uniquePrefix();
    // Auth's Redis through a relay the test holds: each validation waits there, in flight.
    const redis = await startTcpRelay(6379);
    const port = await freePort();
    const auth = await startAuthRpc(port, keyPrefix, `redis://127.0.0.1:${redis.port}`);
    const catalog = await sessionService({
      remote: { host: '127.0.0.1', port, tls: certificates.remoteTls('catalog') },
      storeTimeout: 10,
    });
    try {
      const tokens: string[] = [];
      for (let i = 0; i < 5; i++) {
        tokens.push((await auth.sessions.create(alice)).token);
      }
      expect(await catalog.sessions.validate(tokens[0])).toMatchObject({ userId: alice.id });

      redis.hold();
      const answers: Promise<unknown>[] = [];
      for (const token of tokens) {
        const before = redis.heldBytes().length;
        answers.push(
          catalog.sessions.validate(token).then(
            (session) => session?.userId,
            (error: Error) => error.message,
          ),
        );
        await until(() => redis.heldBytes().length > before);
      }

      const drained = auth.server.drain();
      await until(async () => !(await isAccepting(port)));
      redis.release();
      expect(await Promise.all(answers)).toEqual(tokens.map(() => alice.id));
      await drained;
    } finally {
      redis.release();
      await catalog.close();
      await auth.close();
      await redis.sever();
    }
  });
});

/**
 * The race a drain cannot close for the caller: a frame written just as auth ends its
 * connection, which auth never reads. A relay that drops the frame and closes the connection
 * is that moment, every time.
 */
describe('RemoteSessionStore when its connection closes before an answer', () => {
  let auth: Awaited<ReturnType<typeof startAuthRpc>>;
  let relay: TcpRelay;
  let catalog: { sessions: SessionService; close: () => Promise<void> };

  beforeEach(async () => {
    const port = await freePort();
    auth = await startAuthRpc(port, uniquePrefix());
    relay = await startTcpRelay(port);
    catalog = await sessionService({
      remote: { host: '127.0.0.1', port: relay.port, tls: certificates.remoteTls('contract') },
      storeTimeout: 2,
    });
  });

  afterEach(async () => {
    await catalog?.close();
    await relay?.sever();
    await auth?.close();
  });

  /** Sends `call`, and drops its frame and the connection under it once it is written. */
  async function lostOnItsWay<T>(call: () => Promise<T>): Promise<T> {
    relay.delayFrom(() => true);
    const answer = call();
    await until(() => relay.heldBytes().length > 0);
    relay.cut();
    return answer;
  }

  it('sends a validation again on a fresh connection, and answers it', async () => {
    const { token } = await auth.sessions.create(alice);
    expect(await catalog.sessions.validate(token)).toMatchObject({ userId: alice.id });

    const session = await lostOnItsWay(() => catalog.sessions.validate(token));
    expect(session).toMatchObject({ userId: alice.id });
  });

  it('fails a patch instead of sending it again: only its answer may have been lost', async () => {
    const { token } = await auth.sessions.create(alice);
    expect(await catalog.sessions.validate(token)).toMatchObject({ userId: alice.id });

    await expect(lostOnItsWay(() => catalog.sessions.patch(token, { cart: 3 }))).rejects.toThrow(
      'Session store unavailable',
    );
    expect((await auth.sessions.validate(token))?.attributes).toEqual({});
  });
});
