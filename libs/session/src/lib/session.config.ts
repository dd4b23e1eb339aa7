import { DEFAULT_COOKIE_NAME } from './session.constants';
import { SessionConfig, SessionModuleOptions } from './session.types';

function seconds(name: string, value: number | undefined, fallback: number): number {
  const chosen = value ?? fallback;
  if (!Number.isFinite(chosen) || chosen < 0) {
    throw new Error(`SessionModule: ${name} must be a non-negative number of seconds`);
  }
  return Math.round(chosen * 1000);
}

/** Applies defaults and checks the options once, at start-up, never per request. */
export function resolveSessionConfig(options: SessionModuleOptions): SessionConfig {
  const idleTimeoutMs = seconds('idleTimeout', options.idleTimeout, 1800);
  const absoluteTimeoutMs = seconds('absoluteTimeout', options.absoluteTimeout, 43200);
  if (idleTimeoutMs === 0 || absoluteTimeoutMs === 0) {
    throw new Error('SessionModule: idleTimeout and absoluteTimeout must be positive');
  }
  const secure = options.cookie?.secure ?? process.env['NODE_ENV'] === 'production';
  const baseName = options.cookie?.name ?? DEFAULT_COOKIE_NAME;
  const mode = options.mode ?? 'redis';
  if (mode === 'redis' && !options.redis) {
    throw new Error('SessionModule: `redis` is required in redis mode');
  }
  if (mode === 'remote' && !options.remote) {
    throw new Error('SessionModule: `remote` is required in remote mode');
  }
  return {
    mode,
    redis: options.redis,
    remote: options.remote,
    idleTimeoutMs,
    absoluteTimeoutMs,
    touchIntervalMs: seconds('touchInterval', options.touchInterval, idleTimeoutMs / 10000),
    maxSessionsPerUser: Math.max(0, Math.floor(options.maxSessionsPerUser ?? 10)),
    cookie: {
      // The __Host- prefix pins the cookie to this exact origin, but browsers accept it only
      // on Secure cookies.
      name: secure && !baseName.startsWith('__Host-') ? `__Host-${baseName}` : baseName,
      secure,
      sameSite: options.cookie?.sameSite ?? 'lax',
    },
    allowedOrigins: new Set(options.allowedOrigins ?? []),
    keyPrefix: options.keyPrefix ?? 'cr:',
    storeTimeoutMs: seconds('storeTimeout', options.storeTimeout, 1),
    autoPipelining: options.autoPipelining ?? true,
  };
}
