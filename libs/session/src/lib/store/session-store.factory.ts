import type { SessionConfig } from '../config/session.config';
import { RedisSessionStore } from './redis/redis-session.store';
import { RemoteSessionStore } from './remote/remote-session.store';
import type { SessionStore } from './session-store.interface';

/** The store the options name: built from `redis` or `remote`, or the `store` instance given. */
export function createSessionStore(config: SessionConfig): SessionStore {
  const { backend } = config;
  switch (backend.kind) {
    case 'redis':
      return new RedisSessionStore(backend.connection, config);
    case 'remote':
      return new RemoteSessionStore(backend.connection, config);
    case 'store':
      return backend.store;
  }
}
