import { INestApplication } from '@nestjs/common';

import { SessionStore } from '@cloakroom/session';

/** A dependency the service cannot start without; its message is the whole explanation. */
export class StartupError extends Error {
  override name = 'StartupError';
}

/** Fails start-up when the session store does not answer. */
export async function assertSessionStoreReachable(
  app: INestApplication,
  location: string,
): Promise<void> {
  try {
    await app.get<SessionStore>(SessionStore).ping();
  } catch {
    throw new StartupError(
      `Redis is not reachable at ${location}; start one with "redis-server" ` +
        `or "docker compose -f docker/docker-compose.yml up -d redis", or set REDIS_URL`,
    );
  }
}

/** Prints one line, no stack, and exits 1: what a person starting the service needs to read. */
export function exitOnStartupFailure(service: string) {
  return (error: unknown): never => {
    const message = error instanceof Error ? error.message : String(error);
    process.stderr.write(`${service}: cannot start: ${message.split('\n')[0]}\n`);
    process.exit(1);
  };
}
