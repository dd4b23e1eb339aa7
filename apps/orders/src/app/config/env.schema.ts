import * as Joi from 'joi';

/** Environment of the orders service; defaults are those of local development. */
export const envSchema = Joi.object({
  NODE_ENV: Joi.string().valid('development', 'production', 'test').default('development'),
  ORDERS_PORT: Joi.number().port().default(3002),
  ORDERS_DATABASE_URL: Joi.string().default('sqlite:.data/orders.sqlite'),
  REDIS_URL: Joi.string()
    .uri({ scheme: ['redis', 'rediss'] })
    .default('redis://127.0.0.1:6379'),
  REDIS_CLUSTER_NODES: Joi.string()
    .pattern(/^[^,:\s]+:\d+(,[^,:\s]+:\d+)*$/)
    .optional(),
  SESSION_IDLE_TIMEOUT: Joi.number().positive().default(1800),
  SESSION_ABSOLUTE_TIMEOUT: Joi.number().positive().default(43200),
  SESSION_MAX_PER_USER: Joi.number().integer().min(0).default(10),
  SESSION_COOKIE_SECURE: Joi.boolean().optional(),
  SESSION_ALLOWED_ORIGINS: Joi.string().default('http://localhost:3000,http://127.0.0.1:3000'),
  SESSION_KEY_PREFIX: Joi.string().default('cr:'),
  SESSION_STORE_TIMEOUT: Joi.number().positive().default(1),
});

/** The validated environment, as `ConfigService<Env, true>` reads it. */
export interface Env {
  NODE_ENV: 'development' | 'production' | 'test';
  ORDERS_PORT: number;
  ORDERS_DATABASE_URL: string;
  REDIS_URL: string;
  REDIS_CLUSTER_NODES?: string;
  SESSION_IDLE_TIMEOUT: number;
  SESSION_ABSOLUTE_TIMEOUT: number;
  SESSION_MAX_PER_USER: number;
  SESSION_COOKIE_SECURE?: boolean;
  SESSION_ALLOWED_ORIGINS: string;
  SESSION_KEY_PREFIX: string;
  SESSION_STORE_TIMEOUT: number;
}
