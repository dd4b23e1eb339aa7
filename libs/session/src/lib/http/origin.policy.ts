import { Inject, Injectable } from '@nestjs/common';

import type { SessionConfig } from '../config/session.config';
import { SESSION_CONFIG } from '../session.constants';

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/** The parts of a request, Express or Fastify, that the origin rule reads. */
export interface OriginCheckedRequest {
  method: string;
  headers: Record<string, string | string[] | undefined>;
}

/**
 * The CSRF rule for requests a browser authenticates with the session cookie: an unsafe
 * method must come from an allowed `Origin`, and never from a `cross-site` fetch. A request
 * with no `Origin` passes only when `Sec-Fetch-Site` says `same-origin`.
 *
 * @example
 * if (!originPolicy.allows(request)) throw new ForbiddenException();
 */
@Injectable()
export class OriginPolicy {
  constructor(@Inject(SESSION_CONFIG) private readonly config: SessionConfig) {}

  allows(request: OriginCheckedRequest): boolean {
    if (SAFE_METHODS.has(request.method)) {
      return true;
    }
    const site = request.headers['sec-fetch-site'];
    if (site === 'cross-site') {
      return false;
    }
    const origin = request.headers['origin'];
    if (typeof origin === 'string' && origin !== 'null') {
      return this.config.allowedOrigins.has(origin);
    }
    return site === 'same-origin';
  }

  /**
   * The rule for a WebSocket handshake that carries the session cookie: it is a GET, but a
   * page of any site may open it and the browser attaches the cookie (cross-site WebSocket
   * hijacking), so its `Origin`, which browsers always send on a handshake, must be allowed.
   */
  allowsHandshake(request: Pick<OriginCheckedRequest, 'headers'>): boolean {
    const origin = request.headers['origin'];
    return typeof origin === 'string' && this.config.allowedOrigins.has(origin);
  }
}
