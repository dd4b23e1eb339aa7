import { IsInt, IsString, Min } from 'class-validator';

import { IsPortSetting, IsSecondsSetting, Setting, ToNumber } from '@cloakroom/service-kit';
import { SessionRedisEnv } from '@cloakroom/service-sessions';

/** The environment auth reads: the session and Redis settings, and its own. */
export class AuthEnv extends SessionRedisEnv {
  @Setting('HTTP port of the auth service')
  @IsPortSetting()
  AUTH_PORT = 3001;

  @Setting('TCP port of the session RPC that remote-mode services call')
  @IsPortSetting()
  AUTH_RPC_PORT = 4001;

  // Loopback by default: the session RPC trusts its callers, so expose it only on purpose
  // (containers set 0.0.0.0 so that other services can reach it).
  @Setting('Address the session RPC listens on')
  @IsString()
  AUTH_RPC_LISTEN_HOST = '127.0.0.1';

  @Setting('`postgres://...` for PostgreSQL, anything else is an embedded SQLite file')
  @IsString()
  AUTH_DATABASE_URL = 'sqlite:.data/auth.sqlite';

  @Setting('Express `trust proxy`: which hops may set X-Forwarded-For (true, false, a count)')
  @IsString()
  TRUST_PROXY = 'loopback';

  @Setting('Failed logins per username within the window before 429')
  @ToNumber()
  @IsInt()
  @Min(1)
  LOGIN_MAX_FAILURES_PER_USER = 5;

  @Setting('Failed logins per client address within the window before 429')
  @ToNumber()
  @IsInt()
  @Min(1)
  LOGIN_MAX_FAILURES_PER_IP = 20;

  @Setting('Seconds a failed-login window lasts, from its first failure')
  @IsSecondsSetting()
  LOGIN_FAILURE_WINDOW = 900;
}
