import { INestApplication } from '@nestjs/common';

import { StartupError } from '@cloakroom/service-kit';
import { SessionStore } from '@cloakroom/session';

/** Fails start-up when the session store does not answer. */
export async function assertSessionStoreReachable(
  app: INestApplication,
  location: string,
): Promise<void> {
  try {
    await app.get<SessionStore>(SessionStore).ping();
  } catch (error) {
    throw new StartupError(
      `Redis is not reachable at ${location}; start one with "redis-server" ` +
        `or "docker compose -f docker/docker-compose.yml up -d redis", or set REDIS_URL`,
      error,
    );
  }
}
