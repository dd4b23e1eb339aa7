import { Injectable } from '@nestjs/common';

import { clusterNodesOf } from '@cloakroom/service-sessions';

import { AuthEnv } from './auth.env';

/** Where the event publisher connects (the Redis transport of @nestjs/microservices). */
export interface RedisEndpoint {
  host: string;
  port: number;
  username?: string;
  password?: string;
  db?: number;
  tls?: object;
}

/**
 * Auth's settings turned into what its modules need, where that takes more than reading one
 * variable. The session options come from the shared fragment (`sessionOptionsFromEnv`).
 */
@Injectable()
export class AuthConfig {
  constructor(private readonly env: AuthEnv) {}

  get<K extends keyof AuthEnv>(key: K): AuthEnv[K] {
    return this.env[key];
  }

  get isProduction(): boolean {
    return this.env.NODE_ENV === 'production';
  }

  /**
   * Connection options of the event publisher. Redis pub/sub messages reach every node of a
   * cluster, so in cluster mode publishing through the first node is enough.
   */
  get redisPublisher(): RedisEndpoint {
    const nodes = this.env.REDIS_CLUSTER_NODES;
    if (nodes) {
      const [first] = clusterNodesOf(nodes);
      return first;
    }
    const url = new URL(this.env.REDIS_URL);
    return {
      host: url.hostname,
      port: Number(url.port || 6379),
      username: url.username ? decodeURIComponent(url.username) : undefined,
      password: url.password ? decodeURIComponent(url.password) : undefined,
      db: url.pathname.length > 1 ? Number(url.pathname.slice(1)) : undefined,
      tls: url.protocol === 'rediss:' ? {} : undefined,
    };
  }

  /** Express `trust proxy`: which hops may set X-Forwarded-For. */
  get trustProxy(): boolean | number | string {
    const value = this.env.TRUST_PROXY;
    if (value === 'true' || value === 'false') {
      return value === 'true';
    }
    return /^\d+$/.test(value) ? Number(value) : value;
  }

  get loginThrottle() {
    return {
      maxPerUser: this.env.LOGIN_MAX_FAILURES_PER_USER,
      maxPerIp: this.env.LOGIN_MAX_FAILURES_PER_IP,
      windowMs: this.env.LOGIN_FAILURE_WINDOW * 1000,
      keyPrefix: `${this.env.SESSION_KEY_PREFIX}auth:fail:`,
    };
  }
}
