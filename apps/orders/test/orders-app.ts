import { INestApplication } from '@nestjs/common';
import { NestExpressApplication } from '@nestjs/platform-express';
import { Test } from '@nestjs/testing';

import { configureServiceApp } from '@cloakroom/service-kit';
import { SessionCookieService, SessionService, SessionUser } from '@cloakroom/session';

import { AppModule } from '../src/app/app.module';
import { ordersService } from '../src/app/app.setup';

/** Starts the orders app in-process with the given settings (they win over the environment). */
export async function startOrdersApp(env: Record<string, string>): Promise<INestApplication> {
  const moduleRef = await Test.createTestingModule({ imports: [AppModule.forRoot(env)] }).compile();
  const app = moduleRef.createNestApplication<NestExpressApplication>({ logger: false });
  await configureServiceApp(app, ordersService).init();
  return app;
}

/** Logs a user in the way the auth service does, and returns the cookie a browser would send. */
export async function sessionCookie(app: INestApplication, user: SessionUser): Promise<string> {
  const { token } = await app.get(SessionService).create(user, { userAgent: 'e2e' });
  return `${app.get(SessionCookieService).name}=${token}`;
}

export function randomSuffix(): string {
  return Math.random().toString(36).slice(2, 10);
}
