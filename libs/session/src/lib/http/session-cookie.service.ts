import { Inject, Injectable, Optional } from '@nestjs/common';
import { serialize } from 'cookie';

import type { SessionConfig } from '../config/session.config';
import { SESSION_CONFIG } from '../session.constants';
import { SessionService } from '../session.service';

/**
 * Writes the session cookie with the module's settings: `HttpOnly`, `Path=/`, `SameSite`,
 * and `Secure` with the `__Host-` name prefix when secure. `readSessionTokens` reads it.
 *
 * @example
 * // "remember me": kept until the session's absolute deadline
 * response.setHeader('Set-Cookie', cookies.serialize(token, session.absoluteExpiresAt));
 * // otherwise a browser-session cookie, gone when the browser closes
 * response.setHeader('Set-Cookie', cookies.serialize(token));
 */
@Injectable()
export class SessionCookieService {
  /** The cookie's name, `__Host-` prefix included when secure. */
  readonly name: string;

  /**
   * `sessions` gives the store's clock, which stamped the deadlines `serialize` is given; without
   * it (a cookie service built by hand) the local clock counts `Max-Age`.
   */
  constructor(
    @Inject(SESSION_CONFIG) private readonly config: SessionConfig,
    @Optional() @Inject(SessionService) private readonly sessions: SessionService | null = null,
  ) {
    this.name = config.cookie.name;
  }

  /**
   * A `Set-Cookie` value carrying the token until `expiresAt` (epoch ms): `Max-Age`, which
   * browsers count on their own clock from now and prefer, and `Expires` for older clients.
   * A session's deadline is the store's clock: `Max-Age` counts from the store's now
   * (`SessionService.now()`), so that a host clock ahead of it does not end the cookie before
   * the session, nor one behind keep it past.
   * Without it (or with no finite time: a session read without its deadline), a browser-session
   * cookie (no `Expires`, no `Max-Age`), which the browser drops on close.
   */
  serialize(token: string, expiresAt?: number): string {
    if (expiresAt === undefined || !Number.isFinite(expiresAt)) {
      return serialize(this.name, token, this.attributes());
    }
    return serialize(this.name, token, {
      ...this.attributes(),
      // A browser's clock may be hours off: an `Expires` alone would end the cookie that much
      // early or late.
      maxAge: Math.max(0, Math.floor((expiresAt - this.now()) / 1000)),
      expires: new Date(expiresAt),
    });
  }

  /** A `Set-Cookie` value that removes the cookie at once. */
  clear(): string {
    return serialize(this.name, '', { ...this.attributes(), expires: new Date(0), maxAge: 0 });
  }

  private now(): number {
    return this.sessions ? this.sessions.now() : Date.now();
  }

  private attributes() {
    const { secure, sameSite } = this.config.cookie;
    return { httpOnly: true, path: '/', secure, sameSite };
  }
}
