import {
  IsBoolean,
  IsIn,
  IsInt,
  IsOptional,
  IsString,
  IsUrl,
  Matches,
  Min,
  ValidateBy,
} from 'class-validator';

import {
  IsPortSetting,
  IsSecondsSetting,
  ServiceEnv,
  Setting,
  ToBoolean,
  ToNumber,
} from '@cloakroom/service-kit';
import type { SessionCapPolicy } from '@cloakroom/session';

const CAP_POLICIES: SessionCapPolicy[] = ['evict-oldest', 'evict-idlest', 'refuse'];

/**
 * What every service that checks sessions reads, whichever store it uses.
 *
 * @example
 * function secureCookie(env: SessionEnv): boolean {
 *   return env.SESSION_COOKIE_SECURE ?? env.NODE_ENV === 'production';
 * }
 */
export class SessionEnv extends ServiceEnv {
  // `npm start` gives every process one environment: the gateway's PORT and PUBLIC_URL tell
  // the services which origin the browser is on.
  @Setting("HTTP port of the gateway: SESSION_ALLOWED_ORIGINS's default follows it")
  @IsPortSetting()
  PORT = 3000;

  @Setting("The origin browsers reach the gateway at: SESSION_ALLOWED_ORIGINS's default when set")
  @IsOptional()
  @IsUrl({ protocols: ['http', 'https'], require_protocol: true, require_tld: false })
  PUBLIC_URL?: string;

  @Setting('Secure cookie (and `__Host-` name); unset: on when NODE_ENV is production')
  @IsOptional()
  @ToBoolean()
  @IsBoolean()
  SESSION_COOKIE_SECURE?: boolean;

  @Setting(
    'Comma list of origins whose cookie-authenticated writes are accepted; unset: the ' +
      "gateway's (PUBLIC_URL, else http://localhost:<PORT> and http://127.0.0.1:<PORT>)",
  )
  @IsOptional()
  @IsString()
  SESSION_ALLOWED_ORIGINS?: string;

  @Setting('Seconds a session store call may take before the request answers 503')
  @IsSecondsSetting()
  SESSION_STORE_TIMEOUT = 1;

  @Setting('Seconds a login or re-authentication counts as recent for @RequireRecentAuth routes')
  @IsSecondsSetting()
  SESSION_REAUTH_WINDOW = 600;

  @Setting(
    'Seconds between checks of every open WebSocket against the store: the bound when a revocation event cannot reach it',
  )
  @IsSecondsSetting()
  SESSION_SOCKETS_CHECK_INTERVAL = 30;

  @Setting('WebSockets one user may hold open at once in the service; the next closes with 1008')
  @ToNumber()
  @IsInt()
  @Min(1)
  SESSION_SOCKETS_MAX_PER_USER = 32;

  @Setting(
    'Server-sent event streams one user may hold open at once in the service; the next is a 429',
  )
  @ToNumber()
  @IsInt()
  @Min(1)
  SESSION_STREAMS_MAX_PER_USER = 32;
}

/**
 * A service that reads sessions straight from Redis (auth, orders).
 *
 * @example
 * export class OrdersEnv extends SessionRedisEnv {
 *   @Setting('HTTP port of the orders service')
 *   @IsPortSetting()
 *   ORDERS_PORT = 3002;
 * }
 */
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

  @Setting('`host:port,host:port` of Redis Sentinels: find the primary through them instead')
  @IsOptional()
  @Matches(/^[^\s,:]+:\d+(,[^\s,:]+:\d+)*$/, {
    message: 'REDIS_SENTINELS must look like host:port,host:port',
  })
  @ValidateBy({
    name: 'notWithCluster',
    validator: {
      validate: (_value, args) => !(args?.object as SessionRedisEnv).REDIS_CLUSTER_NODES,
      defaultMessage: () => 'REDIS_SENTINELS and REDIS_CLUSTER_NODES cannot both be set',
    },
  })
  REDIS_SENTINELS?: string;

  @Setting('Name of the primary the Sentinels monitor (`sentinel monitor <name> ...`)')
  @Matches(/^[^\s]+$/, { message: 'REDIS_SENTINEL_NAME must be a name without spaces' })
  REDIS_SENTINEL_NAME = 'cloakroom';

  @Setting('Password of the Sentinels themselves, when they require one')
  @IsOptional()
  @IsString()
  REDIS_SENTINEL_PASSWORD?: string;

  @Setting('Password of the primary and replicas found through the Sentinels')
  @IsOptional()
  @IsString()
  REDIS_PRIMARY_PASSWORD?: string;

  @Setting('Replicas that must confirm a revocation before it succeeds (else 503); 0: none')
  @ToNumber()
  @IsInt()
  @Min(0)
  SESSION_DURABLE_REPLICAS = 0;

  @Setting('Seconds a revocation waits for SESSION_DURABLE_REPLICAS replicas')
  @IsSecondsSetting()
  SESSION_DURABLE_TIMEOUT = 0.5;

  @Setting('Seconds of inactivity after which a session dies')
  @IsSecondsSetting()
  SESSION_IDLE_TIMEOUT = 1800;

  @Setting('Seconds after login after which a session dies, used or not')
  @IsSecondsSetting()
  SESSION_ABSOLUTE_TIMEOUT = 43200;

  @Setting('Seconds of inactivity after which a remembered ("remember me") session dies')
  @IsSecondsSetting()
  SESSION_REMEMBER_IDLE_TIMEOUT = 604800;

  @Setting('Seconds after login after which a remembered session dies, used or not')
  @IsSecondsSetting()
  SESSION_REMEMBER_ABSOLUTE_TIMEOUT = 2592000;

  @Setting('Most live sessions per user, 0 for no cap; over it SESSION_CAP_POLICY applies')
  @ToNumber()
  @IsInt()
  @Min(0)
  SESSION_MAX_PER_USER = 10;

  @Setting(
    'At SESSION_MAX_PER_USER: evict-oldest, evict-idlest (least recently used) or refuse the login',
  )
  @IsIn(CAP_POLICIES, { message: `SESSION_CAP_POLICY must be one of ${CAP_POLICIES.join(', ')}` })
  SESSION_CAP_POLICY: SessionCapPolicy = 'evict-oldest';

  @Setting('Prefix of every Redis key the sessions use')
  @IsString()
  SESSION_KEY_PREFIX = 'cr:';

  @Setting(
    'Keep the raw User-Agent of new sessions (about 160 bytes of Redis each); off: only the device label',
  )
  @ToBoolean()
  @IsBoolean()
  SESSION_KEEP_USER_AGENT = false;

  @Setting(
    "Key users' session tags derive from (43 base64url characters): keeps revoke-all whole if Redis loses its copy while every service restarts; unset: the one Redis holds",
  )
  @IsOptional()
  @Matches(/^[A-Za-z0-9_-]{43}$/, {
    message: 'SESSION_USER_TAG_KEY must be 43 base64url characters (32 random bytes)',
  })
  SESSION_USER_TAG_KEY?: string;
}

/**
 * A service that asks the auth service for sessions over TCP (catalog).
 *
 * @example
 * export class CatalogEnv extends SessionRemoteEnv {
 *   @Setting('HTTP port of the catalog service')
 *   @IsPortSetting()
 *   CATALOG_PORT = 3003;
 * }
 */
export class SessionRemoteEnv extends SessionEnv {
  @Setting("Host of the auth service's session RPC")
  @Matches(/^[^\s/]+$/, { message: 'AUTH_RPC_HOST must be a host name or an address' })
  AUTH_RPC_HOST = '127.0.0.1';

  @Setting("Port of the auth service's session RPC")
  @IsPortSetting()
  AUTH_RPC_PORT = 4001;

  @Setting("PEM file of the CA that signed the session RPC's server certificate")
  @IsString()
  AUTH_RPC_CA = '.data/certs/ca.crt';

  // The certificate's common name is the identity auth's capability table knows. The default
  // is the development certificate of catalog, the one service in remote mode.
  @Setting("PEM file of this service's client certificate for the session RPC (mutual TLS)")
  @IsString()
  AUTH_RPC_CLIENT_CERT = '.data/certs/catalog.crt';

  @Setting('PEM file of the key of AUTH_RPC_CLIENT_CERT')
  @IsString()
  AUTH_RPC_CLIENT_KEY = '.data/certs/catalog.key';
}
