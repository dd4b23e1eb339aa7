import { randomBytes } from 'node:crypto';

import { Injectable } from '@nestjs/common';
import type { Cluster, Redis } from 'ioredis';

import { clientNetwork, clientSite, NETWORKS_PER_SITE } from '@cloakroom/service-kit';
import { SessionStoreUnavailableError } from '@cloakroom/session';

import { ThrottleCounter, TooManyAttemptsException } from '../common/too-many-attempts.exception';
import { AuthConfig } from '../config/auth.config';
import { AuthRedis } from '../redis/auth-redis';
import type { VerifiedDevice } from './device-token.service';
import { ThrottleKeys } from './throttle/throttle-keys';
import { ThrottleScripts } from './throttle/throttle-scripts';

/** A login attempt that was counted before its password is checked. */
export interface LoginAttempt {
  /**
   * The epoch of the user's remembered networks when the attempt was counted: a device token
   * issued after a right password carries it, so a password change since makes it a stranger's.
   */
  readonly epoch: string;
  /**
   * The password was right: takes the counted attempt back, forgives the username's earlier
   * failures from this network, and remembers the network as one the user logs in from.
   * Calling it again does nothing.
   */
  succeed(): Promise<void>;
  /**
   * The password was never checked (the hashing queue was full): takes the counted attempt
   * back and forgives nothing else. Calling it, or `succeed`, again does nothing.
   */
  abandon(): Promise<void>;
  /**
   * The password was checked and was wrong: the attempt stays counted, and attempts refused
   * meanwhile stop waiting for it. Calling it, or the others, again does nothing.
   */
  fail(): Promise<void>;
}

/**
 * Why an attempt was not counted: which counter refused it, how long to wait, and how many may
 * still free a place.
 */
interface Refusal {
  counter: ThrottleCounter;
  waitMs: number;
  inCheck: number;
}

/**
 * How long an attempt may be checked before it counts as failed: longer than any password
 * check takes, so only an attempt whose auth instance stopped during its check is taken so.
 */
const ATTEMPT_CHECK_MS = 30_000;

/** The first pause before a refused attempt tries again, doubling up to the last. */
const RECHECK_FIRST_MS = 25;
const RECHECK_MAX_MS = 400;

/** What one attempt counted: its id (a marker in each counter) and the keys it touched. */
interface Counted {
  id: string;
  userKeys: ReturnType<ThrottleKeys['user']>;
  networkKey: string;
  /** The counter of its IPv6 site (/48), for an IPv6 client. */
  siteKey?: string;
  /** The epoch of the user's remembered networks when it was counted (user-attempt.lua). */
  epoch: string;
  /** The counter of the device token presented, when its signature checked out. */
  deviceKey?: string;
  /** The epoch that device token was issued in. */
  deviceEpoch?: string;
}

/**
 * Login throttling, counted in Redis so that every auth instance sees the same counts.
 *
 * An attempt is counted *before* its password is checked, by one atomic script, and refused
 * (429 + Retry-After, nothing counted) when a limit is reached; a correct password takes its
 * attempt back. So N parallel guesses never get more than the limit to the password check.
 * A limit reached while some of its attempts are still being checked is not yet reached by
 * failures: the refused attempt tries again, for up to `LOGIN_CHECK_WAIT` seconds, as those
 * checks end — N parallel logins with the right password all pass, while N parallel guesses
 * are refused as soon as the first ones have failed.
 * Counters, each over a fixed window that opens with its first attempt:
 * - per username and client network (an IPv4 address, an IPv6 /64): the guesser's limit;
 * - per client network, whatever the username: password spraying;
 * - per IPv6 site (/48, `clientSite`), whatever the username and the /64 within it, at
 *   `NETWORKS_PER_SITE` times the network's limit: a customer given a /48 has 65,536 /64s, each
 *   a network of its own, and would otherwise spray with 65,536 networks' budgets;
 * - per username across networks, a higher ceiling: past it, attempts from networks the user
 *   has not logged in from recently wait between each other (doubling delays, capped), while
 *   networks the user has logged in from are exempt, until the password changes
 *   ({@link forgetNetworks}). Nobody is ever locked out for good, and a stranger cannot keep
 *   the owner out of a network the owner logged in from.
 * - per device token (signed, see `DeviceTokenService`): an attempt presenting one the user got
 *   under the current password is exempt from the ceiling like one from a known network, so a
 *   stranger cannot keep the owner out of a new network either, from a device the owner logged
 *   in with; each token has its own failure budget, past which it is a stranger's for the window.
 *
 * The username counters share one hash tag (one Redis Cluster slot); the network counter is
 * another key, and so is the site's, so an attempt takes two script calls (three for IPv6): the
 * username's first (a refusal there never touches the network's), then the network's, whose
 * refusal takes the username's count back, then the site's, whose refusal takes both back. In
 * between, a count may stand one too high for a moment: that can only refuse a racing attempt,
 * never let one more through.
 *
 * Each attempt has an id, marked in the counters it was counted in, and a refund takes back
 * that attempt only. A script call that fails (a timeout while Redis stalls: 503) may still run
 * once Redis resumes; its refund is sent at once, on the same connection, so it runs right
 * after it: an attempt answered 503 never counts toward a lockout.
 */
@Injectable()
export class LoginThrottleService {
  private readonly settings: AuthConfig['loginThrottle'];
  private readonly deviceMaxFailures: number;
  private readonly redis: Redis | Cluster;
  private readonly scripts: ThrottleScripts;
  private readonly keys: ThrottleKeys;

  constructor(redis: AuthRedis, config: AuthConfig) {
    this.redis = redis.client;
    this.settings = config.loginThrottle;
    this.deviceMaxFailures = config.deviceTokens.maxFailures;
    this.scripts = new ThrottleScripts(this.redis);
    this.keys = new ThrottleKeys(this.settings.keyPrefix);
  }

  /**
   * Counts an attempt for `username` from the client address `ip` before its password is
   * checked, or throws {@link TooManyAttemptsException} (429 with the seconds to wait) without
   * counting it. Redis failing is a 503 (`SessionStoreUnavailableError`). `device`, a device
   * token of this username whose signature checked out, exempts the attempt from the ceiling
   * while the token is of the current epoch and within its failure budget.
   *
   * @example
   * const attempt = await throttle.begin(username, ip, devices.verify(token, username));
   * if (!(await passwordIsRight(username, password))) throw new UnauthorizedException();
   * await attempt.succeed();
   */
  async begin(
    username: string,
    ip: string,
    device: VerifiedDevice | null = null,
  ): Promise<LoginAttempt> {
    const network = clientNetwork(ip);
    const site = clientSite(ip);
    // Monotonic: a host clock stepped while the attempt waits must not end or stretch the wait.
    const giveUpAt = performance.now() + this.settings.checkWaitMs;
    let pauseMs = RECHECK_FIRST_MS;
    for (;;) {
      const outcome = await this.count(username, network, site, device);
      if (!('waitMs' in outcome)) {
        return this.attemptOf(outcome);
      }
      const leftMs = giveUpAt - performance.now();
      if (outcome.inCheck === 0 || leftMs <= 0) {
        throw refusal(outcome);
      }
      await sleep(Math.min(pauseMs, leftMs));
      pauseMs = Math.min(pauseMs * 2, RECHECK_MAX_MS);
    }
  }

  /**
   * Counts one attempt in the username's counters, then the network's, then the site's (IPv6);
   * or why it was not.
   */
  private async count(
    username: string,
    network: string,
    site: string | undefined,
    device: VerifiedDevice | null,
  ): Promise<Counted | Refusal> {
    const s = this.settings;
    const counted: Counted = {
      id: randomBytes(12).toString('base64url'),
      userKeys: this.keys.user(username, network),
      networkKey: this.keys.network(network),
      siteKey: site === undefined ? undefined : this.keys.network(site),
      epoch: '1',
      deviceKey: device ? this.keys.device(username, device.id) : undefined,
      deviceEpoch: device?.epoch,
    };
    const byUser = await this.attempt(
      'userAttempt',
      this.userKeysOf(counted),
      [
        s.maxPerUser,
        s.userCeiling,
        s.windowMs,
        s.firstDelayMs,
        s.maxDelayMs,
        counted.id,
        ATTEMPT_CHECK_MS,
        ...(counted.deviceEpoch === undefined ? [] : [this.deviceMaxFailures, counted.deviceEpoch]),
      ],
      () => this.refundUser(counted, 0),
    );
    if (byUser[0] !== 1) {
      // The ceiling's refusal carries no count of attempts being checked (user-attempt.lua).
      return refusalOf(byUser.length > 2 ? 'pair' : 'user', byUser);
    }
    counted.epoch = String(byUser[1]);
    const byNetwork = await this.attempt(
      'networkAttempt',
      [counted.networkKey],
      [s.maxPerNetwork, s.windowMs, counted.id, ATTEMPT_CHECK_MS],
      () => this.refund(counted, 0),
    );
    if (byNetwork[0] !== 1) {
      await this.refundUser(counted, 0);
      return refusalOf('network', byNetwork);
    }
    if (counted.siteKey !== undefined) {
      const bySite = await this.attempt(
        'networkAttempt',
        [counted.siteKey],
        [s.maxPerNetwork * NETWORKS_PER_SITE, s.windowMs, counted.id, ATTEMPT_CHECK_MS],
        () => this.refund(counted, 0),
      );
      if (bySite[0] !== 1) {
        await this.refund(counted, 0);
        return refusalOf('site', bySite);
      }
    }
    return counted;
  }

  private attemptOf(counted: Counted): LoginAttempt {
    let settled = false;
    const settle = (outcome: (counted: Counted) => Promise<void>) => async () => {
      if (settled) {
        return;
      }
      settled = true;
      await outcome(counted);
    };
    return {
      epoch: counted.epoch,
      succeed: settle((attempt) => this.refund(attempt, this.settings.knownNetworkMs)),
      abandon: settle((attempt) => this.refund(attempt, 0)),
      fail: settle((attempt) => this.markFailed(attempt)),
    };
  }

  /**
   * True the first time in a window that `counter` refuses attempts for `username` from the
   * network of `ip`: the refusal worth recording. A flood of refused attempts then writes one
   * activity row per window and counter, not one per request: per username and network for
   * the username's own limit there, per username for its ceiling across networks (one row, not
   * one per network a guesser comes from), per network for the network's limit (one row, not
   * one per username a sprayer makes up), per IPv6 site for the site's (one row, not one per /64).
   */
  async firstRefusal(username: string, ip: string, counter: ThrottleCounter): Promise<boolean> {
    const where = (counter === 'site' && clientSite(ip)) || clientNetwork(ip);
    const key = this.keys.refusalNotice(counter, username, where);
    const set = await this.guard(() =>
      this.redis.set(key, '1', 'PX', this.settings.windowMs, 'NX'),
    );
    return set === 'OK';
  }

  /**
   * Forgets every network `username` logged in from but the one of `ip`: after a password
   * change, whoever knew the old password may have logged in from many networks, and each
   * would otherwise keep its guesses at the new one past the ceiling. A check of the old
   * password that succeeds after this remembers nothing either. Answers the new epoch: device
   * tokens of earlier ones are a stranger's from now on.
   *
   * @example
   * const epoch = await throttle.forgetNetworks(user.username, client.ip); // once the new hash is saved
   */
  async forgetNetworks(username: string, ip: string): Promise<string> {
    const [, , known, epochKey] = this.keys.user(username, clientNetwork(ip));
    const epoch = randomBytes(12).toString('base64url');
    await this.run('forgetNetworks', [epochKey, known], [epoch, this.settings.knownNetworkMs]);
    return epoch;
  }

  /**
   * Takes a counted attempt back. `rememberMs` > 0 (a right password) also forgives the
   * username's failures from the network and remembers it for that long.
   */
  private async refund(counted: Counted, rememberMs: number): Promise<void> {
    await Promise.all([
      this.refundUser(counted, rememberMs),
      ...this.networkKeysOf(counted).map((key) => this.run('networkRefund', [key], [counted.id])),
    ]);
  }

  /** Marks the attempt failed in the counters whose limits refuse attempts. */
  private async markFailed(counted: Counted): Promise<void> {
    const [pairKey] = counted.userKeys;
    await Promise.all(
      [pairKey, ...this.networkKeysOf(counted)].map((key) => this.run('fail', [key], [counted.id])),
    );
  }

  private async refundUser(counted: Counted, rememberMs: number): Promise<void> {
    await this.run('userRefund', this.userKeysOf(counted), [counted.id, rememberMs, counted.epoch]);
  }

  /** The network counters an attempt touches: its network's, and its site's for IPv6. */
  private networkKeysOf(counted: Counted): string[] {
    return counted.siteKey ? [counted.networkKey, counted.siteKey] : [counted.networkKey];
  }

  /** The username's keys an attempt touches: its device token's counter last, when it has one. */
  private userKeysOf(counted: Counted): string[] {
    return counted.deviceKey ? [...counted.userKeys, counted.deviceKey] : counted.userKeys;
  }

  /**
   * Runs an attempt script; when the call fails, sends `takeBack` at once (it queues behind the
   * attempt, which Redis may still run) without waiting for it, and answers 503.
   */
  private async attempt(
    name: 'userAttempt' | 'networkAttempt',
    keys: string[],
    args: Array<string | number>,
    takeBack: () => Promise<void>,
  ): Promise<unknown[]> {
    try {
      return await this.run(name, keys, args);
    } catch (error) {
      takeBack().catch(() => undefined);
      throw error;
    }
  }

  private async run(
    name: Parameters<ThrottleScripts['run']>[0],
    keys: string[],
    args: Array<string | number>,
  ): Promise<unknown[]> {
    const reply = await this.guard(() => this.scripts.run(name, keys, args));
    return Array.isArray(reply) ? reply : [reply];
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

function refusalOf(counter: ThrottleCounter, [, waitMs, inCheck]: unknown[]): Refusal {
  return { counter, waitMs: Number(waitMs), inCheck: Number(inCheck ?? 0) };
}

/**
 * The 429 for a refusal: with attempts still being checked, one may free a place in a moment
 * (the wait is for the burst, not the window); otherwise the limit's own wait.
 */
function refusal({ counter, waitMs, inCheck }: Refusal): TooManyAttemptsException {
  if (inCheck > 0) {
    return new TooManyAttemptsException(1, false, counter);
  }
  return new TooManyAttemptsException(Math.max(1, Math.ceil(waitMs / 1000)), true, counter);
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
