import { createHash } from 'node:crypto';

import type { ThrottleCounter } from '../../common/too-many-attempts.exception';
import { normalizeUsername } from '../../users/username';

/**
 * Redis key names of the login throttle. A username's keys share a hash tag — a digest of the
 * name, so attacker-chosen names stay short and never appear in Redis in clear — and so one
 * Redis Cluster slot; a network's counter is a key of its own.
 *
 * @example
 * const keys = new ThrottleKeys('cr:auth:throttle:');
 * keys.user('alice', '203.0.113.7'); // [pair counter, username counter, known marker, epoch]
 */
export class ThrottleKeys {
  constructor(private readonly prefix: string) {}

  /**
   * The counter of `username` from `network`, its counter across networks, the marker of
   * `network` as one the user logged in from, and the epoch such markers must hold to count
   * (moved by a password change).
   */
  user(
    username: string,
    network: string,
  ): [pair: string, user: string, known: string, epoch: string] {
    const base = this.userBase(username);
    return [`${base}p:${network}`, `${base}u`, `${base}k:${network}`, `${base}e`];
  }

  /** The failure counter of the device token `deviceId` of `username` (its hash tag). */
  device(username: string, deviceId: string): string {
    return `${this.userBase(username)}d:${deviceId}`;
  }

  /**
   * Set while a refusal by `counter` has been recorded in this window: of `username` from
   * `network` (`pair`), of `username` (`user`), of `network` (`network`), of the IPv6 site
   * `network` names (`site`: a /48, which no /64 or IPv4 network is spelled as).
   */
  refusalNotice(counter: ThrottleCounter, username: string, network: string): string {
    switch (counter) {
      case 'pair':
        return `${this.userBase(username)}r:${network}`;
      case 'user':
        return `${this.userBase(username)}r`;
      case 'network':
      case 'site':
        return `${this.prefix}r:${network}`;
    }
  }

  private userBase(username: string): string {
    const digest = createHash('sha256')
      .update(normalizeUsername(username))
      .digest('base64url')
      .slice(0, 22);
    return `${this.prefix}{${digest}}:`;
  }

  /** The counter of `network` (or of an IPv6 site, spelled `<prefix>::/48`), whatever the username. */
  network(network: string): string {
    return `${this.prefix}n:${network}`;
  }
}
