import { Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';

import { SessionModule } from '@cloakroom/session';
import { SessionRpcModule, sessionRpcTransport } from '@cloakroom/session/rpc';

import { sessionOptions } from '../bench/bench.module';
import { SERVER_SETTINGS_VARIABLE, ServerSettings } from '../scenarios';
import { linkToParent, readSettings, send } from './parent-link';

/**
 * Stands in for the auth service's session RPC: `SessionModule` in redis mode behind
 * `SessionRpcModule` over mutual TLS, for the `session-remote` scenario. The `bench` client
 * may validate and sees every field, so that it measures what a direct validation returns.
 */
export async function startRpcServer(): Promise<void> {
  const settings = readSettings<ServerSettings>(SERVER_SETTINGS_VARIABLE);
  linkToParent();

  @Module({
    imports: [
      SessionModule.forRoot(sessionOptions(settings.redisUrl)),
      SessionRpcModule.register({
        capabilities: {
          bench: {
            calls: ['validate'],
            fields: [
              ...(['id', 'userId', 'username', 'roles', 'createdAt', 'lastSeenAt'] as const),
              ...(['expiresAt', 'absoluteExpiresAt', 'ip', 'userAgent', 'attributes'] as const),
            ],
          },
        },
      }),
    ],
  })
  class RpcModule {}

  const tls = settings.keys.rpcTls.server;
  const app = await NestFactory.createMicroservice(RpcModule, {
    ...sessionRpcTransport({ host: '127.0.0.1', port: settings.rpcPort, tls }),
    logger: ['error'],
  });
  await app.listen();
  send({ type: 'ready' });
}
