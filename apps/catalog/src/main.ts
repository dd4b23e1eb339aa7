import { Logger } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { NestFactory } from '@nestjs/core';

import { configureServiceApp, exitOnStartupFailure } from '@cloakroom/service-kit';

import { AppModule } from './app/app.module';
import { Env } from './app/config/env.schema';

async function bootstrap(): Promise<void> {
  // Logs stay buffered until start-up succeeds, so a failure prints one line, not a stack.
  const app = await NestFactory.create(AppModule, {
    bufferLogs: true,
    autoFlushLogs: false,
    abortOnError: false,
  });
  await configureServiceApp(app).init();
  app.flushLogs();
  const port = app.get<ConfigService<Env, true>>(ConfigService).get('CATALOG_PORT');
  await app.listen(port);
  Logger.log(`catalog listening on http://localhost:${port}/api/catalog`, 'Bootstrap');
}

bootstrap().catch(exitOnStartupFailure('catalog'));
