import { INestApplication } from '@nestjs/common';
import { Test } from '@nestjs/testing';

import { configureServiceApp } from '@cloakroom/service-kit';
import { SessionCookieService, SessionService, SessionUser } from '@cloakroom/session';

/**
 * Starts the orders app in-process with the given environment. The app module reads its
 * configuration when it is first loaded, so it is loaded here, after the environment is set.
 */
export async function startOrdersApp(env: Record<string, string>): Promise<INestApplication> {
  Object.assign(process.env, env);
  const { AppModule } = await import('../src/app/app.module');
  const moduleRef = await Test.createTestingModule({ imports: [AppModule] }).compile();
  const app = configureServiceApp(moduleRef.createNestApplication({ logger: false }));
  await app.init();
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
