import { Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { MicroserviceOptions, Transport } from '@nestjs/microservices';

import { SessionModule, SessionRpcController } from '@cloakroom/session';

import { sessionOptions } from '../bench/bench.module';
import { SERVER_SETTINGS_VARIABLE, ServerSettings } from '../scenarios';
import { linkToParent, readSettings, send } from './parent-link';

/**
 * Stands in for the auth service's session microservice: `SessionModule` in redis mode
 * behind `SessionRpcController` on TCP, for the `session-remote` scenario.
 */
export async function startRpcServer(): Promise<void> {
  const settings = readSettings<ServerSettings>(SERVER_SETTINGS_VARIABLE);
  linkToParent();

  @Module({
    imports: [SessionModule.forRoot(sessionOptions(settings.redisUrl))],
    controllers: [SessionRpcController],
  })
  class RpcModule {}

  const app = await NestFactory.createMicroservice<MicroserviceOptions>(RpcModule, {
    transport: Transport.TCP,
    options: { host: '127.0.0.1', port: settings.rpcPort },
    logger: ['error'],
  });
  await app.listen();
  send({ type: 'ready' });
}
