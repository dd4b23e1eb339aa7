import { Inject, Injectable } from '@nestjs/common';

import type { SessionConfig } from '../config/session.config';
import { SESSION_CONFIG } from '../session.constants';

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/**
 * The parts of a request, Express or Fastify, that the origin rule reads.
 *
 * @example
 * originPolicy.allows({ method: 'POST', headers: { origin: 'https://shop.example' } });
 * // true when `allowedOrigins` lists it
 */
export interface OriginCheckedRequest {
  method: string;
  headers: Record<string, string | string[] | undefined>;
}

/**
 * The CSRF rule for requests a browser authenticates with the session cookie: an unsafe
 * method must come from the app's own origin or an allowed one, and never from a `cross-site`
 * fetch. The app's own origin is what `Sec-Fetch-Site: same-origin` says (a header no page can
 * set: the browser does, on every request since 2023), whatever `Origin` reads; otherwise the
 * request's `Origin` must be in `allowedOrigins` (browsers without the header, and other
 * origins the app trusts). A WebSocket upgrade request, whatever its method, follows the
 * handshake rule (`allowsHandshake`).
 *
 * @example
 * if (!originPolicy.allows(request)) throw new ForbiddenException();
 */
@Injectable()
export class OriginPolicy {
  constructor(@Inject(SESSION_CONFIG) private readonly config: SessionConfig) {}

  allows(request: OriginCheckedRequest): boolean {
    // A WebSocket's operations (GraphQL over graphql-ws) are checked on its upgrade request: a
    // GET, which any page may open with the cookie and read, WebSockets having no CORS.
    if (isWebSocketUpgrade(request)) {
      return this.allowsHandshake(request);
    }
    if (SAFE_METHODS.has(request.method)) {
      return true;
    }
    const site = request.headers['sec-fetch-site'];
    if (site === 'same-origin') {
      return true;
    }
    if (site === 'cross-site') {
      return false;
    }
    const origin = request.headers['origin'];
    return (
      typeof origin === 'string' && origin !== 'null' && this.config.allowedOrigins.has(origin)
    );
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

function isWebSocketUpgrade(request: OriginCheckedRequest): boolean {
  const upgrade = request.headers['upgrade'];
  return typeof upgrade === 'string' && upgrade.toLowerCase() === 'websocket';
}
