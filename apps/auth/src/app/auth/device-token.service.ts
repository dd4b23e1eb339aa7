import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

import { Injectable } from '@nestjs/common';
import { serialize } from 'cookie';

import { readSessionTokens } from '@cloakroom/session';

import type { HttpRequest } from '../common/http.types';
import { AuthConfig } from '../config/auth.config';
import { normalizeUsername } from '../users/username';

/** The header a bearer client sends its device token in (it gets it in the login body). */
export const DEVICE_TOKEN_HEADER = 'x-device-token';

/**
 * Where the device cookie goes: every auth route (`/api/auth`, the service's prefix), so that
 * login, re-authentication and password change see it, and no other service is sent it.
 */
export const DEVICE_COOKIE_PATH = '/api/auth';

/** The longest value read as a device token: anything longer is no token of ours. */
const MAX_TOKEN_LENGTH = 160;

/**
 * `cd1.<id>.<epoch>.<expires, s since 1970>.<HMAC-SHA256>`: the id is 128 random bits, the
 * epoch that of the user's remembered networks when the password was checked (a password
 * change moves it: the token is then a stranger's).
 */
const TOKEN_FORMAT = /^cd1\.([\w-]{22})\.([\w-]{1,32})\.(\d{1,12})\.([\w-]{43})$/;

/** What a device token that checked out says: the device's id and the epoch it was issued in. */
export interface VerifiedDevice {
  id: string;
  epoch: string;
}

/**
 * Device tokens (OWASP "device cookies"): after a right password, the client gets a random id
 * bound to the username and signed with `LOGIN_DEVICE_SECRET`; a login that presents one of
 * the same username is exempt from the per-username ceiling like a network the user logged in
 * from, within its own failure budget (see `LoginThrottleService`). Tokens are never logged.
 *
 * @example
 * const token = devices.issue('alice', epoch);
 * devices.verify(token, 'alice'); // { id, epoch }
 * devices.verify(token, 'bob'); // null
 */
@Injectable()
export class DeviceTokenService {
  private readonly settings: AuthConfig['deviceTokens'];
  /** The cookie's name: `__Secure-` prefixed when secure (`__Host-` needs `Path=/`). */
  readonly cookieName: string;

  constructor(config: AuthConfig) {
    this.settings = config.deviceTokens;
    this.cookieName = this.settings.secure ? '__Secure-cr_device' : 'cr_device';
  }

  /** A new device token for `username`, valid while `epoch` is the user's epoch. */
  issue(username: string, epoch: string): string {
    const id = randomBytes(16).toString('base64url');
    const expires = Math.floor((Date.now() + this.settings.lifetimeMs) / 1000);
    const payload = `cd1.${id}.${epoch}.${expires}`;
    return `${payload}.${this.sign(payload, username)}`;
  }

  /**
   * The device a token names, if it is well formed, unexpired, and signed by this service for
   * `username` (compared in constant time); else null. The epoch is checked by the throttle.
   */
  verify(token: string | undefined, username: string): VerifiedDevice | null {
    if (token === undefined || token.length > MAX_TOKEN_LENGTH) {
      return null;
    }
    const match = TOKEN_FORMAT.exec(token);
    if (!match) {
      return null;
    }
    const [, id, epoch, expires, signature] = match;
    if (Number(expires) * 1000 <= Date.now()) {
      return null;
    }
    const expected = Buffer.from(this.sign(`cd1.${id}.${epoch}.${expires}`, username), 'base64url');
    const given = Buffer.from(signature, 'base64url');
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
      return null;
    }
    return { id, epoch };
  }

  /** The first of `tokens` that {@link verify} accepts for `username`; null when none does. */
  recognize(tokens: readonly string[], username: string): VerifiedDevice | null {
    for (const token of tokens) {
      const device = this.verify(token, username);
      if (device) {
        return device;
      }
    }
    return null;
  }

  /**
   * The device tokens a request presents: the `X-Device-Token` header (bearer clients), else
   * every value of the device cookie, in the order sent. Every one, not the first: a page on a
   * sibling subdomain can set a cookie of the same name at a longer path (even a `__Secure-`
   * one, with `Domain=`), which browsers send first; read alone, it would hide the owner's
   * token, and with it their exemption from the ceiling. The header's 16 KiB bound their count.
   */
  read(request: HttpRequest): string[] {
    const header = request.headers[DEVICE_TOKEN_HEADER];
    if (typeof header === 'string' && header !== '') {
      return [header];
    }
    // Every value, as a logout reads the session cookie's (no Authorization: no device token).
    return readSessionTokens({ cookie: request.headers.cookie }, this.cookieName).map(
      ({ token }) => token,
    );
  }

  /**
   * The `Set-Cookie` value carrying a device token: HttpOnly, `SameSite=Strict` (the login form
   * posts from the gateway's own origin, a same-site request that carries it), Secure when
   * session cookies are, scoped to {@link DEVICE_COOKIE_PATH}, kept as long as the token lives.
   */
  cookie(token: string): string {
    return serialize(this.cookieName, token, {
      httpOnly: true,
      secure: this.settings.secure,
      sameSite: 'strict',
      path: DEVICE_COOKIE_PATH,
      maxAge: Math.floor(this.settings.lifetimeMs / 1000),
    });
  }

  /** The username as the throttle keys it (case-insensitive), so the binding is the same. */
  private sign(payload: string, username: string): string {
    return createHmac('sha256', this.settings.secret)
      .update(`${payload}|${normalizeUsername(username)}`)
      .digest('base64url');
  }
}
