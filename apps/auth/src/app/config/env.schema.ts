import * as Joi from 'joi';

import { StartupError } from '@cloakroom/service-kit';

/** The environment auth reads, after validation: defaults applied, numbers and flags typed. */
export interface Env {
  NODE_ENV: string;
  AUTH_PORT: number;
  AUTH_RPC_PORT: number;
  AUTH_RPC_LISTEN_HOST: string;
  REDIS_URL: string;
  REDIS_CLUSTER_NODES?: string;
  AUTH_DATABASE_URL: string;
  SESSION_IDLE_TIMEOUT: number;
  SESSION_ABSOLUTE_TIMEOUT: number;
  SESSION_MAX_PER_USER: number;
  SESSION_COOKIE_SECURE?: boolean;
  SESSION_ALLOWED_ORIGINS?: string;
  SESSION_KEY_PREFIX: string;
  SESSION_STORE_TIMEOUT: number;
  TRUST_PROXY: string;
  LOGIN_MAX_FAILURES_PER_USER: number;
  LOGIN_MAX_FAILURES_PER_IP: number;
  LOGIN_FAILURE_WINDOW: number;
}

const port = Joi.number().port();
const seconds = Joi.number().positive();

export const envSchema = Joi.object<Env>({
  NODE_ENV: Joi.string().default('development'),
  AUTH_PORT: port.default(3001),
  AUTH_RPC_PORT: port.default(4001),
  // Other services reach the session RPC from other containers: listen on every interface.
  // Loopback by default: the session RPC trusts its callers, so expose it only on purpose.
  AUTH_RPC_LISTEN_HOST: Joi.string().default('127.0.0.1'),
  REDIS_URL: Joi.string()
    .uri({ scheme: ['redis', 'rediss'] })
    .default('redis://127.0.0.1:6379'),
  REDIS_CLUSTER_NODES: Joi.string()
    .pattern(/^[^\s,:]+:\d+(,[^\s,:]+:\d+)*$/)
    .message('REDIS_CLUSTER_NODES must look like host:port,host:port'),
  // A `postgres://` URL, or else an embedded SQLite file.
  AUTH_DATABASE_URL: Joi.string().default('sqlite:.data/auth.sqlite'),
  SESSION_IDLE_TIMEOUT: seconds.default(1800),
  SESSION_ABSOLUTE_TIMEOUT: seconds.default(43200),
  SESSION_MAX_PER_USER: Joi.number().integer().min(0).default(10),
  SESSION_COOKIE_SECURE: Joi.boolean(),
  SESSION_ALLOWED_ORIGINS: Joi.string(),
  SESSION_KEY_PREFIX: Joi.string().default('cr:'),
  SESSION_STORE_TIMEOUT: seconds.default(1),
  TRUST_PROXY: Joi.string().default('loopback'),
  LOGIN_MAX_FAILURES_PER_USER: Joi.number().integer().min(1).default(5),
  LOGIN_MAX_FAILURES_PER_IP: Joi.number().integer().min(1).default(20),
  LOGIN_FAILURE_WINDOW: seconds.default(900),
});

/** Validates the raw environment; every problem is reported at once, at start-up. */
export function validateEnv(raw: Record<string, unknown>): Env {
  const { error, value } = envSchema.validate(raw, { abortEarly: false, allowUnknown: true });
  if (error) {
    throw new StartupError(`invalid configuration: ${error.message}`);
  }
  return value;
}
