import * as Joi from 'joi';

/** Environment of the catalog service; defaults are those of local development. */
export const envSchema = Joi.object({
  NODE_ENV: Joi.string().valid('development', 'production', 'test').default('development'),
  CATALOG_PORT: Joi.number().port().default(3003),
  CATALOG_DATABASE_URL: Joi.string().default('sqlite:.data/catalog.sqlite'),
  AUTH_RPC_HOST: Joi.string().hostname().default('127.0.0.1'),
  AUTH_RPC_PORT: Joi.number().port().default(4001),
  SESSION_COOKIE_SECURE: Joi.boolean().optional(),
  SESSION_ALLOWED_ORIGINS: Joi.string().default('http://localhost:3000,http://127.0.0.1:3000'),
  SESSION_STORE_TIMEOUT: Joi.number().positive().default(1),
});

/** The validated environment, as `ConfigService<Env, true>` reads it. */
export interface Env {
  NODE_ENV: 'development' | 'production' | 'test';
  CATALOG_PORT: number;
  CATALOG_DATABASE_URL: string;
  AUTH_RPC_HOST: string;
  AUTH_RPC_PORT: number;
  SESSION_COOKIE_SECURE?: boolean;
  SESSION_ALLOWED_ORIGINS: string;
  SESSION_STORE_TIMEOUT: number;
}
