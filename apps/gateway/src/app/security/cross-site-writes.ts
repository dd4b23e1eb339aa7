import { IncomingMessage, ServerResponse } from 'node:http';

import { answerWithError } from '@cloakroom/service-kit';

/** Methods a browser sends from another site without asking (navigations, images, scripts). */
const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/**
 * Refuses, at the edge and before any body is read, an unsafe request the browser marks as sent
 * by a page of another site (`Sec-Fetch-Site: cross-site`, a header no page can set). No route
 * of the stack takes one: none allows cross-origin requests (no CORS), so such a request can
 * only be a form post, a beacon or a no-cors fetch, the shapes of CSRF. Each service already
 * checks the origin of the requests it authenticates by cookie; this covers a route that would
 * forget, and a public one whose answer alone does harm (a logout's cookie-clearing headers).
 * Clients that send no such header (no browser) are not concerned.
 */
export function refuseCrossSiteWrites(
  req: IncomingMessage,
  res: ServerResponse,
  next: () => void,
): void {
  if (SAFE_METHODS.has(req.method ?? '') || req.headers['sec-fetch-site'] !== 'cross-site') {
    next();
    return;
  }
  answerWithError(res, 403, 'Cross-site request refused');
}
