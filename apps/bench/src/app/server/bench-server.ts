import { INestApplication } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter } from '@nestjs/platform-fastify';
import { RedisStore } from 'connect-redis';
import session from 'express-session';
import { createClient } from 'redis';

import { BenchModule } from '../bench/bench.module';
import {
  EXPRESS_SESSION_COOKIE,
  EXPRESS_SESSION_KEY_PREFIX,
  REDIS_CLIENT_NAME,
  SERVER_SETTINGS_VARIABLE,
  ServerSettings,
} from '../scenarios';
import { linkToParent, readSettings, send } from './parent-link';

/** Starts the benchmark app for one adapter and one scenario, then tells the runner. */
export async function startBenchServer(): Promise<void> {
  const settings = readSettings<ServerSettings>(SERVER_SETTINGS_VARIABLE);
  linkToParent();
  const module = BenchModule.forScenario(settings);
  const app: INestApplication =
    settings.adapter === 'fastify'
      ? await NestFactory.create(module, new FastifyAdapter(), { logger: ['error'] })
      : await NestFactory.create(module, { logger: ['error'] });
  if (settings.scenario === 'express-session') {
    await useExpressSession(app, settings);
  }
  await app.listen(settings.port, '127.0.0.1');
  send({ type: 'ready' });
}

async function useExpressSession(app: INestApplication, settings: ServerSettings): Promise<void> {
  const client = createClient({ url: settings.redisUrl, name: REDIS_CLIENT_NAME });
  await client.connect();
  app.use(
    session({
      store: new RedisStore({ client, prefix: EXPRESS_SESSION_KEY_PREFIX }),
      secret: settings.keys.expressSessionSecret,
      resave: false,
      saveUninitialized: false,
      cookie: EXPRESS_SESSION_COOKIE,
    }),
  );
}
