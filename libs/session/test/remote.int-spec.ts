import { INestMicroservice, Module } from '@nestjs/common';
import { Transport } from '@nestjs/microservices';
import { Test } from '@nestjs/testing';
import { Redis } from 'ioredis';

import { SessionModule, SessionRpcController } from '../src';
import {
  alice,
  CONTRACT_LIMITS,
  describeStoreContract,
  sessionService,
  uniquePrefix,
} from './store-contract';

const url = process.env['REDIS_URL'] ?? 'redis://127.0.0.1:6379';
const RPC_PORT = 4391;
const keyPrefix = uniquePrefix();

/** Stands in for the auth service: a Redis-mode SessionModule served over TCP. */
async function startRpcServer(): Promise<INestMicroservice> {
  @Module({
    imports: [SessionModule.forRoot({ redis: { url }, keyPrefix, ...CONTRACT_LIMITS })],
    controllers: [SessionRpcController],
  })
  class RpcServerModule {}

  const moduleRef = await Test.createTestingModule({ imports: [RpcServerModule] }).compile();
  const server = moduleRef.createNestMicroservice({
    transport: Transport.TCP,
    options: { host: '127.0.0.1', port: RPC_PORT },
    logger: false,
  });
  await server.listen();
  return server;
}

let server: INestMicroservice;
let client: Redis;

afterAll(async () => {
  client?.disconnect();
  await server?.close();
});

describeStoreContract('RemoteSessionStore through the TCP session microservice', async () => {
  server = await startRpcServer();
  client = new Redis(url);
  return {
    options: { mode: 'remote', remote: { host: '127.0.0.1', port: RPC_PORT }, storeTimeout: 1 },
    client,
    keyPrefix,
  };
});

describe('RemoteSessionStore when the auth service is down', () => {
  it('fails with SessionStoreUnavailableError, and works again once auth is back', async () => {
    const { sessions, close } = await sessionService({
      mode: 'remote',
      remote: { host: '127.0.0.1', port: RPC_PORT },
      storeTimeout: 0.5,
    });
    try {
      const { token } = await sessions.create(alice);
      await server.close();
      await expect(sessions.validate(token)).rejects.toThrow('Session store unavailable');
      server = await startRpcServer();
      let user: string | undefined;
      for (let i = 0; i < 30 && !user; i++) {
        user = await sessions.validate(token).then(
          (session) => session?.username,
          () => undefined,
        );
        if (!user) await new Promise((resolve) => setTimeout(resolve, 100));
      }
      expect(user).toBe('alice');
    } finally {
      await close();
    }
  });
});
