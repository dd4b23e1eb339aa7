import { IsBoolean, IsInt, IsOptional, IsString, IsUrl, Matches, Min } from 'class-validator';

import {
  IsPortSetting,
  IsSecondsSetting,
  ServiceEnv,
  Setting,
  ToBoolean,
  ToNumber,
} from '@cloakroom/service-kit';

/** The gateway's origins: the browser reaches every service through it. */
export const GATEWAY_ORIGINS = 'http://localhost:3000,http://127.0.0.1:3000';

/** What every service that checks sessions reads, whichever store it uses. */
export class SessionEnv extends ServiceEnv {
  @Setting('Secure cookie (and `__Host-` name); unset: on when NODE_ENV is production')
  @IsOptional()
  @ToBoolean()
  @IsBoolean()
  SESSION_COOKIE_SECURE?: boolean;

  @Setting('Comma list of origins whose cookie-authenticated writes are accepted')
  @IsString()
  SESSION_ALLOWED_ORIGINS = GATEWAY_ORIGINS;

  @Setting('Seconds a session store call may take before the request answers 503')
  @IsSecondsSetting()
  SESSION_STORE_TIMEOUT = 1;
}

/** A service that reads sessions straight from Redis (auth, orders). */
export class SessionRedisEnv extends SessionEnv {
  @Setting('Redis holding the sessions, `redis://` or `rediss://`, credentials included')
  @IsUrl({ protocols: ['redis', 'rediss'], require_protocol: true, require_tld: false })
  REDIS_URL = 'redis://127.0.0.1:6379';

  @Setting('`host:port,host:port`: use this Redis Cluster instead of REDIS_URL')
  @IsOptional()
  @Matches(/^[^\s,:]+:\d+(,[^\s,:]+:\d+)*$/, {
    message: 'REDIS_CLUSTER_NODES must look like host:port,host:port',
  })
  REDIS_CLUSTER_NODES?: string;

  @Setting('Seconds of inactivity after which a session dies')
  @IsSecondsSetting()
  SESSION_IDLE_TIMEOUT = 1800;

  @Setting('Seconds after login after which a session dies, used or not')
  @IsSecondsSetting()
  SESSION_ABSOLUTE_TIMEOUT = 43200;

  @Setting('Most live sessions per user, 0 for no cap; over it the oldest is revoked')
  @ToNumber()
  @IsInt()
  @Min(0)
  SESSION_MAX_PER_USER = 10;

  @Setting('Prefix of every Redis key the sessions use')
  @IsString()
  SESSION_KEY_PREFIX = 'cr:';
}

/** A service that asks the auth service for sessions over TCP (catalog). */
export class SessionRemoteEnv extends SessionEnv {
  @Setting("Host of the auth service's session RPC")
  @Matches(/^[^\s/]+$/, { message: 'AUTH_RPC_HOST must be a host name or an address' })
  AUTH_RPC_HOST = '127.0.0.1';

  @Setting("Port of the auth service's session RPC")
  @IsPortSetting()
  AUTH_RPC_PORT = 4001;
}
