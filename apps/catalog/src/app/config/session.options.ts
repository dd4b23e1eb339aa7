import { ConfigService } from '@nestjs/config';

import { SessionModuleOptions } from '@cloakroom/session';

import { Env } from './env.schema';

/**
 * Remote mode: catalog never touches Redis; each session check is one TCP call to the auth
 * service, which owns Redis. Timeouts and the per-user cap are the auth service's business.
 */
export function sessionOptions(config: ConfigService<Env, true>): SessionModuleOptions {
  return {
    mode: 'remote',
    remote: { host: config.get('AUTH_RPC_HOST'), port: config.get('AUTH_RPC_PORT') },
    cookie: { secure: config.get('SESSION_COOKIE_SECURE') },
    allowedOrigins: listOf(config.get('SESSION_ALLOWED_ORIGINS')),
    storeTimeout: config.get('SESSION_STORE_TIMEOUT'),
  };
}

function listOf(value: string): string[] {
  return value
    .split(',')
    .map((item) => item.trim())
    .filter(Boolean);
}
