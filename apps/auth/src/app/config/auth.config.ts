import { Injectable } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';

import { SessionModuleOptions, SessionRedisConnection } from '@cloakroom/session';

import { Env } from './env.schema';

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
 * The validated environment turned into what the modules need. The one place that knows how
 * variables map to options, so nothing else reads the environment.
 */
@Injectable()
export class AuthConfig {
  constructor(private readonly config: ConfigService<Env, true>) {}

  get<K extends keyof Env>(key: K): Env[K] {
    return this.config.get(key, { infer: true });
  }

  get isProduction(): boolean {
    return this.get('NODE_ENV') === 'production';
  }

  get redis(): SessionRedisConnection {
    const nodes = this.get('REDIS_CLUSTER_NODES');
    if (nodes) {
      return {
        cluster: nodes.split(',').map((node) => {
          const [host, port] = node.split(':');
          return { host, port: Number(port) };
        }),
      };
    }
    return { url: this.get('REDIS_URL') };
  }

  /** Where Redis is expected, for humans reading a start-up failure. */
  get redisLocation(): string {
    return this.get('REDIS_CLUSTER_NODES') ?? this.get('REDIS_URL');
  }

  /**
   * Connection options of the event publisher. Redis pub/sub messages reach every node of a
   * cluster, so in cluster mode publishing through the first node is enough.
   */
  get redisPublisher(): RedisEndpoint {
    const nodes = this.get('REDIS_CLUSTER_NODES');
    if (nodes) {
      const [host, port] = nodes.split(',')[0].split(':');
      return { host, port: Number(port) };
    }
    const url = new URL(this.get('REDIS_URL'));
    return {
      host: url.hostname,
      port: Number(url.port || 6379),
      username: url.username ? decodeURIComponent(url.username) : undefined,
      password: url.password ? decodeURIComponent(url.password) : undefined,
      db: url.pathname.length > 1 ? Number(url.pathname.slice(1)) : undefined,
      tls: url.protocol === 'rediss:' ? {} : undefined,
    };
  }

  get session(): SessionModuleOptions {
    const port = this.get('AUTH_PORT');
    const origins = this.get('SESSION_ALLOWED_ORIGINS');
    return {
      mode: 'redis',
      redis: this.redis,
      idleTimeout: this.get('SESSION_IDLE_TIMEOUT'),
      absoluteTimeout: this.get('SESSION_ABSOLUTE_TIMEOUT'),
      maxSessionsPerUser: this.get('SESSION_MAX_PER_USER'),
      keyPrefix: this.get('SESSION_KEY_PREFIX'),
      storeTimeout: this.get('SESSION_STORE_TIMEOUT'),
      cookie: { secure: this.get('SESSION_COOKIE_SECURE') ?? this.isProduction },
      allowedOrigins: origins
        ? origins
            .split(',')
            .map((origin) => origin.trim())
            .filter(Boolean)
        : ['http://localhost:3000', 'http://127.0.0.1:3000', `http://localhost:${port}`],
    };
  }

  /** Express `trust proxy`: which hops may set X-Forwarded-For. */
  get trustProxy(): boolean | number | string {
    const value = this.get('TRUST_PROXY');
    if (value === 'true' || value === 'false') {
      return value === 'true';
    }
    return /^\d+$/.test(value) ? Number(value) : value;
  }

  get loginThrottle() {
    return {
      maxPerUser: this.get('LOGIN_MAX_FAILURES_PER_USER'),
      maxPerIp: this.get('LOGIN_MAX_FAILURES_PER_IP'),
      windowMs: this.get('LOGIN_FAILURE_WINDOW') * 1000,
      keyPrefix: `${this.get('SESSION_KEY_PREFIX')}auth:fail:`,
    };
  }
}
