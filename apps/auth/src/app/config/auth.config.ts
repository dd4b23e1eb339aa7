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

  /** The login throttle's limits, durations in whole milliseconds (what its scripts take). */
  get loginThrottle() {
    const ms = (seconds: number) => Math.max(1, Math.round(seconds * 1000));
    return {
      maxPerUser: this.env.LOGIN_MAX_FAILURES_PER_USER,
      maxPerNetwork: this.env.LOGIN_MAX_FAILURES_PER_IP,
      userCeiling: this.env.LOGIN_USER_CEILING,
      windowMs: ms(this.env.LOGIN_FAILURE_WINDOW),
      firstDelayMs: ms(this.env.LOGIN_DELAY_FIRST),
      maxDelayMs: ms(this.env.LOGIN_DELAY_MAX),
      knownNetworkMs: ms(this.env.LOGIN_KNOWN_NETWORK_TTL),
      checkWaitMs: Math.round(this.env.LOGIN_CHECK_WAIT * 1000),
      keyPrefix: `${this.env.SESSION_KEY_PREFIX}auth:throttle:`,
    };
  }

  /**
   * Device tokens: the secret that signs them, and the failures one may have per window before
   * its device is a stranger at the ceiling. A token lives as long as a known network
   * (`knownNetworkMs`), so the epoch a password change moves outlives every token issued before.
   */
  get deviceTokens() {
    return {
      secret: this.env.LOGIN_DEVICE_SECRET,
      maxFailures: this.env.LOGIN_DEVICE_MAX_FAILURES,
      lifetimeMs: this.loginThrottle.knownNetworkMs,
      secure: this.env.SESSION_COOKIE_SECURE ?? this.isProduction,
    };
  }

  /**
   * What `/activity` cursors are signed with: the device-token secret, which every instance
   * shares and production already requires of its own (`ActivityCursorCodec` derives a key of
   * its own from it). Changing it only sends clients paging a log back to its first page.
   */
  get activityCursorSecret(): string {
    return this.env.LOGIN_DEVICE_SECRET;
  }

  /** How many argon2 runs at once, and how many may wait for one. */
  get passwordHashing() {
    return {
      concurrency: this.env.PASSWORD_HASH_CONCURRENCY,
      queue: this.env.PASSWORD_HASH_QUEUE,
    };
  }
}
