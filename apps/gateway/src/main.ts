import { join } from 'node:path';
import { Logger } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { NestFactory } from '@nestjs/core';
import { NestExpressApplication } from '@nestjs/platform-express';

import { AppModule } from './app/app.module';
import { configureGateway } from './app/app.setup';
import { Env } from './app/config/env.schema';

async function bootstrap(): Promise<void> {
  // No body parser: proxied requests must reach the services byte for byte.
  const app = await NestFactory.create<NestExpressApplication>(AppModule, { bodyParser: false });
  const port = app.get<ConfigService<Env, true>>(ConfigService).get('PORT');
  // The build copies src/assets next to main.js.
  await configureGateway(app, join(__dirname, 'assets', 'web')).listen(port);
  Logger.log(`gateway listening on http://localhost:${port}`, 'Bootstrap');
}

bootstrap();
