import { ConfigService } from '@nestjs/config';

import { SessionModuleOptions, SessionRedisConnection } from '@cloakroom/session';

import { Env } from './env.schema';

/** Direct mode: orders reads sessions straight from Redis, one round trip per request. */
export function sessionOptions(config: ConfigService<Env, true>): SessionModuleOptions {
  return {
    mode: 'redis',
    redis: redisConnection(config),
    idleTimeout: config.get('SESSION_IDLE_TIMEOUT'),
    absoluteTimeout: config.get('SESSION_ABSOLUTE_TIMEOUT'),
    maxSessionsPerUser: config.get('SESSION_MAX_PER_USER'),
    cookie: { secure: config.get('SESSION_COOKIE_SECURE') },
    allowedOrigins: listOf(config.get('SESSION_ALLOWED_ORIGINS')),
    keyPrefix: config.get('SESSION_KEY_PREFIX'),
    storeTimeout: config.get('SESSION_STORE_TIMEOUT'),
  };
}

/** Where Redis is, for logs and error lines; never includes a password. */
export function redisLocation(config: ConfigService<Env, true>): string {
  const nodes = config.get('REDIS_CLUSTER_NODES', { infer: true });
  if (nodes) {
    return `cluster ${nodes}`;
  }
  const url = new URL(config.get('REDIS_URL'));
  url.username = '';
  url.password = '';
  return url.toString();
}

function redisConnection(config: ConfigService<Env, true>): SessionRedisConnection {
  const nodes = config.get('REDIS_CLUSTER_NODES', { infer: true });
  if (nodes) {
    return {
      cluster: listOf(nodes).map((node) => {
        const [host, port] = node.split(':');
        return { host, port: Number(port) };
      }),
    };
  }
  return { url: config.get('REDIS_URL') };
}

function listOf(value: string): string[] {
  return value
    .split(',')
    .map((item) => item.trim())
    .filter(Boolean);
}
