import { Logger } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { NestFactory } from '@nestjs/core';

import { configureServiceApp, exitOnStartupFailure } from '@cloakroom/service-kit';

import { AppModule } from './app/app.module';
import { Env } from './app/config/env.schema';
import { redisLocation } from './app/config/session.options';
import { assertSessionStoreReachable } from './app/startup';

async function bootstrap(): Promise<void> {
  // Logs stay buffered until start-up succeeds, so a failure prints one line, not a stack.
  const app = await NestFactory.create(AppModule, {
    bufferLogs: true,
    autoFlushLogs: false,
    abortOnError: false,
  });
  const config = app.get<ConfigService<Env, true>>(ConfigService);
  await configureServiceApp(app).init();
  await assertSessionStoreReachable(app, redisLocation(config));
  app.flushLogs();
  const port = config.get('ORDERS_PORT');
  await app.listen(port);
  Logger.log(`orders listening on http://localhost:${port}/api/orders`, 'Bootstrap');
}

bootstrap().catch(exitOnStartupFailure('orders'));
