import { Logger } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { NestExpressApplication } from '@nestjs/platform-express';

import { exitOnStartupFailure, StartupError } from '@cloakroom/service-kit';

import { AppModule } from './app/app.module';
import { GLOBAL_PREFIX, setupApp } from './app/app.setup';
import { AuthConfig } from './app/config/auth.config';

async function bootstrap(): Promise<void> {
  // Logs stay buffered until start-up succeeds, so bad configuration or a missing Redis or
  // database prints the one line below instead of Nest's stack traces.
  const app = await NestFactory.create<NestExpressApplication>(AppModule.forRoot(), {
    bufferLogs: true,
    autoFlushLogs: false,
    abortOnError: false,
  });
  const config = app.get(AuthConfig);
  setupApp(app).enableShutdownHooks();
  // init() runs the start-up checks before anything listens or flushes the logs.
  await app.init();
  await app.startAllMicroservices();
  await app.listen(config.get('AUTH_PORT'));
  app.flushLogs();
  Logger.log(
    `auth on http://localhost:${config.get('AUTH_PORT')}/${GLOBAL_PREFIX}, ` +
      `session RPC on tcp ${config.get('AUTH_RPC_PORT')}`,
    'Bootstrap',
  );
}

const reportStartupFailure = exitOnStartupFailure('auth');

bootstrap().catch((error: unknown) => {
  if (error instanceof StartupError) {
    reportStartupFailure(error);
  }
  // Not a failure start-up knows how to explain: the buffered logs and the stack may.
  Logger.flush();
  console.error(error);
  process.exit(1);
});
