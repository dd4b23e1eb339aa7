import { Injectable } from '@nestjs/common';

import { AuthEnv } from './auth.env';

/**
 * Auth's settings turned into what its modules need, where that takes more than reading one
 * variable. The session options come from the shared fragment (`sessionOptionsFromEnv`).
 */
@Injectable()
export class AuthConfig {
  constructor(private readonly env: AuthEnv) {}

  get<K extends keyof AuthEnv>(key: K): AuthEnv[K] {
    return this.env[key];
  }

  get isProduction(): boolean {
    return this.env.NODE_ENV === 'production';
  }

  /** Express `trust proxy`: which hops may set X-Forwarded-For. */
  get trustProxy(): boolean | number | string {
    const value = this.env.TRUST_PROXY;
    if (value === 'true' || value === 'false') {
      return value === 'true';
    }
    return /^\d+$/.test(value) ? Number(value) : value;
  }

  get loginThrottle() {
    return {
      maxPerUser: this.env.LOGIN_MAX_FAILURES_PER_USER,
      maxPerIp: this.env.LOGIN_MAX_FAILURES_PER_IP,
      windowMs: this.env.LOGIN_FAILURE_WINDOW * 1000,
      keyPrefix: `${this.env.SESSION_KEY_PREFIX}auth:fail:`,
    };
  }
}
