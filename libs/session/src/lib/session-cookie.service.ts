import { Inject, Injectable } from '@nestjs/common';
import { parse, serialize } from 'cookie';

import { SESSION_CONFIG } from './session.constants';
import { SessionConfig } from './session.types';

/**
 * Reads and writes the session cookie with the module's settings: `HttpOnly`, `Path=/`,
 * `SameSite`, and `Secure` with the `__Host-` name prefix when secure.
 *
 * @example
 * response.setHeader('Set-Cookie', cookies.serialize(token, session.absoluteExpiresAt));
 */
@Injectable()
export class SessionCookieService {
  readonly name: string;

  constructor(@Inject(SESSION_CONFIG) private readonly config: SessionConfig) {
    this.name = config.cookie.name;
  }

  /** The token in a `Cookie` header, if any. */
  read(cookieHeader: string | undefined): string | undefined {
    if (!cookieHeader || !cookieHeader.includes(this.name)) {
      return undefined;
    }
    return parse(cookieHeader)[this.name];
  }

  /** A `Set-Cookie` value carrying the token until `expiresAt` (epoch ms). */
  serialize(token: string, expiresAt: number): string {
    return serialize(this.name, token, { ...this.attributes(), expires: new Date(expiresAt) });
  }

  /** A `Set-Cookie` value that removes the cookie at once. */
  clear(): string {
    return serialize(this.name, '', { ...this.attributes(), expires: new Date(0), maxAge: 0 });
  }

  private attributes() {
    const { secure, sameSite } = this.config.cookie;
    return { httpOnly: true, path: '/', secure, sameSite };
  }
}
