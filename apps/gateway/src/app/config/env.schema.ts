import { ConfigService } from '@nestjs/config';
import * as Joi from 'joi';

const serviceUrl = Joi.string().uri({ scheme: ['http', 'https'] });

/** Environment of the gateway; defaults are those of local development. */
export const envSchema = Joi.object({
  NODE_ENV: Joi.string().valid('development', 'production', 'test').default('development'),
  PORT: Joi.number().port().default(3000),
  AUTH_URL: serviceUrl.default('http://127.0.0.1:3001'),
  ORDERS_URL: serviceUrl.default('http://127.0.0.1:3002'),
  CATALOG_URL: serviceUrl.default('http://127.0.0.1:3003'),
  PROXY_TIMEOUT: Joi.number().positive().default(30),
});

/** The validated environment, as `ConfigService<Env, true>` reads it. */
export interface Env {
  NODE_ENV: 'development' | 'production' | 'test';
  PORT: number;
  AUTH_URL: string;
  ORDERS_URL: string;
  CATALOG_URL: string;
  PROXY_TIMEOUT: number;
}

/** A service behind the gateway: its paths all start with `/api/<name>`. */
export interface Upstream {
  name: 'auth' | 'orders' | 'catalog';
  url: string;
}

export function upstreamsOf(config: ConfigService<Env, true>): Upstream[] {
  return [
    { name: 'auth', url: config.get('AUTH_URL') },
    { name: 'orders', url: config.get('ORDERS_URL') },
    { name: 'catalog', url: config.get('CATALOG_URL') },
  ];
}
