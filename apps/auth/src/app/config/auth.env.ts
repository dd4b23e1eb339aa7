import { availableParallelism } from 'node:os';

import {
  IsBoolean,
  IsInt,
  IsNumber,
  IsOptional,
  IsString,
  Max,
  Min,
  MinLength,
  ValidateBy,
} from 'class-validator';

import {
  IsPortSetting,
  IsSecondsSetting,
  Setting,
  ToBoolean,
  ToNumber,
} from '@cloakroom/service-kit';
import { SessionRedisEnv } from '@cloakroom/service-sessions';

/** Refuses `true` when `NODE_ENV` is `production`, saying why. */
function IsOffInProduction(reason: string): PropertyDecorator {
  return ValidateBy({
    name: 'isOffInProduction',
    validator: {
      validate: (value, args) =>
        value !== true || (args?.object as AuthEnv | undefined)?.NODE_ENV !== 'production',
      defaultMessage: () => `$property cannot be true when NODE_ENV is production: ${reason}`,
    },
  });
}

/**
 * The device-token secret used when `LOGIN_DEVICE_SECRET` is unset: published here, so good
 * for development and tests only, and refused in production.
 */
export const DEVELOPMENT_DEVICE_SECRET = 'cloakroom-development-device-secret-not-for-production';

/** Refuses the published development secret when `NODE_ENV` is `production`. */
function IsNotPublishedInProduction(): PropertyDecorator {
  return ValidateBy({
    name: 'isNotPublishedInProduction',
    validator: {
      validate: (value, args) =>
        value !== DEVELOPMENT_DEVICE_SECRET ||
        (args?.object as AuthEnv | undefined)?.NODE_ENV !== 'production',
      defaultMessage: () =>
        '$property must be set to a secret of your own when NODE_ENV is production',
    },
  });
}

/** The environment auth reads: the session and Redis settings, and its own. */
export class AuthEnv extends SessionRedisEnv {
  @Setting('HTTP port of the auth service')
  @IsPortSetting()
  AUTH_PORT = 3001;

  @Setting('TCP port of the session RPC that remote-mode services call')
  @IsPortSetting()
  AUTH_RPC_PORT = 4001;

  // Loopback by default: expose the session RPC only on purpose (containers set 0.0.0.0 so
  // that other services can reach it).
  @Setting('Address the session RPC listens on')
  @IsString()
  AUTH_RPC_LISTEN_HOST = '127.0.0.1';

  @Setting("PEM file of the session RPC's server certificate (mutual TLS)")
  @IsString()
  AUTH_RPC_SERVER_CERT = '.data/certs/auth.crt';

  @Setting('PEM file of the key of AUTH_RPC_SERVER_CERT')
  @IsString()
  AUTH_RPC_SERVER_KEY = '.data/certs/auth.key';

  @Setting("PEM file of the CA that signs callers' client certificates; others are refused")
  @IsString()
  AUTH_RPC_CLIENT_CA = '.data/certs/ca.crt';

  @Setting('`postgres://...` for PostgreSQL, anything else is an embedded SQLite file')
  @IsString()
  AUTH_DATABASE_URL = 'sqlite:.data/auth.sqlite';

  @Setting('Express `trust proxy`: which hops may set X-Forwarded-For (true, false, a count)')
  @IsString()
  TRUST_PROXY = 'loopback';

  // At most a century: the cutoff is counted in epoch milliseconds, which a larger count
  // takes past what a date (and the column) can hold, and pruning would fail every hour.
  @Setting('Days the security activity log keeps an event; older ones are deleted')
  @ToNumber()
  @IsInt()
  @Min(1)
  @Max(36_500)
  ACTIVITY_RETENTION_DAYS = 90;

  // A role change, disable or password change whose sessions' update failed or was cut short
  // (Redis down, auth stopped mid-change) is marked in the database and applied from there.
  @Setting(
    'Seconds between looks for users whose role change, disable or password change may not have reached their sessions',
  )
  @IsSecondsSetting()
  ACCESS_SYNC_INTERVAL = 5;

  // Login attempts are counted before the password is checked; a correct one is taken back.
  @Setting(
    'Failed logins per username from one client network (IPv4 address, IPv6 /64) within the window before 429',
  )
  @ToNumber()
  @IsInt()
  @Min(1)
  LOGIN_MAX_FAILURES_PER_USER = 5;

  @Setting(
    'Failed logins per client network (IPv4 address, IPv6 /64), any username, before 429; an IPv6 /48 gets four times as many across its /64s',
  )
  @ToNumber()
  @IsInt()
  @Min(1)
  LOGIN_MAX_FAILURES_PER_IP = 50;

  @Setting(
    'Seconds an attempt refused while attempts of the same counter are still being checked waits for one of them to succeed (0: refused at once)',
  )
  @ToNumber()
  @IsNumber()
  @Min(0)
  LOGIN_CHECK_WAIT = 3;

  @Setting('Seconds a failed-login window lasts, from its first failure')
  @IsSecondsSetting()
  LOGIN_FAILURE_WINDOW = 900;

  @Setting(
    'Failed logins per username from all networks within the window past which unknown networks wait between attempts',
  )
  @ToNumber()
  @IsInt()
  @Min(1)
  LOGIN_USER_CEILING = 20;

  @Setting('Seconds of the first wait past LOGIN_USER_CEILING; each further attempt doubles it')
  @IsSecondsSetting()
  LOGIN_DELAY_FIRST = 1;

  @Setting('Longest wait between attempts past LOGIN_USER_CEILING, in seconds')
  @IsSecondsSetting()
  @ValidateBy({
    name: 'isAtLeastFirstDelay',
    validator: {
      validate: (value, args) =>
        typeof value !== 'number' ||
        value >= ((args?.object as AuthEnv | undefined)?.LOGIN_DELAY_FIRST ?? 0),
      defaultMessage: () => '$property must be at least LOGIN_DELAY_FIRST',
    },
  })
  LOGIN_DELAY_MAX = 60;

  @Setting(
    'Seconds a network where a username logged in stays exempt from LOGIN_USER_CEILING for it',
  )
  @IsSecondsSetting()
  LOGIN_KNOWN_NETWORK_TTL = 2_592_000;

  // Signs device tokens: a login from a device that holds one is exempt from the ceiling.
  @Setting(
    'Secret (at least 32 characters) that signs device tokens and activity-log cursors; the default is for development only and refused in production',
  )
  @IsString()
  @MinLength(32)
  @IsNotPublishedInProduction()
  LOGIN_DEVICE_SECRET = DEVELOPMENT_DEVICE_SECRET;

  @Setting(
    'Failed logins per device token within the window; past them the device waits at LOGIN_USER_CEILING like a stranger',
  )
  @ToNumber()
  @IsInt()
  @Min(1)
  LOGIN_DEVICE_MAX_FAILURES = 5;

  @Setting('Password hashes and checks (argon2) run at once; default: the number of CPU cores')
  @ToNumber()
  @IsInt()
  @Min(1)
  PASSWORD_HASH_CONCURRENCY = availableParallelism();

  @Setting(
    'Password hashes and checks that may wait for a free slot, shared fairly between client ' +
      'networks and usernames; more answer 503 (429 past a fair share)',
  )
  @ToNumber()
  @IsInt()
  @Min(0)
  PASSWORD_HASH_QUEUE = 16;

  // Refused in production: their passwords are printed in the README.
  @Setting('`true` seeds demo users into an empty user table (`npm start` and `nx serve` ask)')
  @ToBoolean()
  @IsBoolean()
  @IsOffInProduction('demo users have public passwords')
  SEED_DEMO_USERS = false;

  @Setting(
    '`true` serves the Swagger UI at /api/auth/docs; unset: on unless NODE_ENV is production',
  )
  @ToBoolean()
  @IsOptional()
  @IsBoolean()
  AUTH_API_DOCS?: boolean;
}
