import type { SessionConfig } from '../config/session.config';
import { RedisSessionStore } from './redis/redis-session.store';
import type { RemoteSessionStore } from './remote/remote-session.store';
import type { SessionStore } from './session-store.interface';

/** The store the options name: built from `redis` or `remote`, or the `store` instance given. */
export function createSessionStore(config: SessionConfig): SessionStore {
  const { backend } = config;
  switch (backend.kind) {
    case 'redis':
      return new RedisSessionStore(backend.connection, config);
    case 'remote': {
      return new (loadRemoteStore())(backend.connection, config);
    }
    case 'store':
      return backend.store;
  }
}

/**
 * `RemoteSessionStore`, loaded only for remote mode: it needs `@nestjs/microservices`, an
 * optional peer that a service in direct mode does not install.
 */
function loadRemoteStore(): typeof RemoteSessionStore {
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    return (
      require('./remote/remote-session.store') as { RemoteSessionStore: typeof RemoteSessionStore }
    ).RemoteSessionStore;
  } catch (error) {
    if ((error as { code?: unknown }).code === 'MODULE_NOT_FOUND') {
      throw new Error(
        'SessionModule: `remote` needs @nestjs/microservices (npm install @nestjs/microservices)',
        { cause: error },
      );
    }
    throw error;
  }
}
