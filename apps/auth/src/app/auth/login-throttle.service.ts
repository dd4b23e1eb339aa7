import { createHash } from 'node:crypto';
import { Injectable } from '@nestjs/common';
import type { Cluster, Redis } from 'ioredis';

import { SessionStoreUnavailableError } from '@cloakroom/session';

import { TooManyAttemptsException } from '../common/too-many-attempts.exception';
import { AuthConfig } from '../config/auth.config';
import { AuthRedis } from '../redis/auth-redis';

/**
 * Counts failed logins per username and per client address in Redis (fixed windows), so
 * every auth instance sees the same counts. Only failures count: a user who logs in often is
 * never locked out, a guesser is after a few tries whichever name or address they rotate.
 */
@Injectable()
export class LoginThrottleService {
  private readonly settings: AuthConfig['loginThrottle'];
  private readonly redis: Redis | Cluster;

  constructor(redis: AuthRedis, config: AuthConfig) {
    this.redis = redis.client;
    this.settings = config.loginThrottle;
  }

  /** Throws 429 (with the seconds to wait) when either counter is at its limit. */
  async assertAllowed(username: string, ip: string): Promise<void> {
    const [byUser, byIp] = await Promise.all([
      this.read(this.userKey(username)),
      this.read(this.ipKey(ip)),
    ]);
    const waits = [
      byUser.count >= this.settings.maxPerUser ? byUser.ttlMs : 0,
      byIp.count >= this.settings.maxPerIp ? byIp.ttlMs : 0,
    ];
    const waitMs = Math.max(...waits);
    if (waitMs > 0) {
      throw new TooManyAttemptsException(Math.ceil(waitMs / 1000));
    }
  }

  async recordFailure(username: string, ip: string): Promise<void> {
    await Promise.all([this.increment(this.userKey(username)), this.increment(this.ipKey(ip))]);
  }

  /** A successful login forgives the username's earlier typos; the address keeps its count. */
  async forgive(username: string): Promise<void> {
    await this.guard(() => this.redis.del(this.userKey(username)));
  }

  private async read(key: string): Promise<{ count: number; ttlMs: number }> {
    const replies = await this.guard(() => this.redis.multi().get(key).pttl(key).exec());
    const count = Number(replies?.[0]?.[1] ?? 0);
    const ttlMs = Number(replies?.[1]?.[1] ?? 0);
    return { count, ttlMs: ttlMs > 0 ? ttlMs : this.settings.windowMs };
  }

  private async increment(key: string): Promise<void> {
    // The window starts with the first failure; later ones do not extend it.
    await this.guard(() =>
      this.redis.multi().set(key, 0, 'PX', this.settings.windowMs, 'NX').incr(key).exec(),
    );
  }

  private userKey(username: string): string {
    // Hashed: attacker-chosen names stay short and never appear in Redis in clear.
    const digest = createHash('sha256').update(username.toLowerCase()).digest('base64url');
    return `${this.settings.keyPrefix}u:${digest.slice(0, 22)}`;
  }

  private ipKey(ip: string): string {
    return `${this.settings.keyPrefix}ip:${ip}`;
  }

  /** The counters live next to the sessions: when Redis fails, the session store is down. */
  private async guard<T>(operation: () => Promise<T>): Promise<T> {
    try {
      return await operation();
    } catch (error) {
      throw new SessionStoreUnavailableError(error);
    }
  }
}
