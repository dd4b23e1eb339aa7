import type { IncomingMessage, ServerResponse } from 'node:http';

import { answerWithError } from '@cloakroom/service-kit';

/**
 * Header lines a request may carry through the gateway (Apache's `LimitRequestFields`; a
 * browser sends about 20). It must stay below the 2,000 lines Node hands an app
 * (`maxHeadersCount`): Node frames a body by a `Content-Length` or `Transfer-Encoding` past
 * those lines all the same, so the gateway, shown no framing, would pipe the bytes that follow
 * to the service's kept-alive connection unframed, where they are read as a request of their
 * own, with a path and headers (`X-Forwarded-For`) the gateway never checked, and its answer
 * goes to the next client on that connection. A request Node cut short shows 2,000 lines and
 * is refused. Below the services' 2,000 too, so that the `Host`, `Content-Length` and
 * `X-Forwarded-*` the gateway sets are never among the lines a service drops.
 */
export const MAX_HEADER_LINES = 100;

/** Whether a request carries more than {@link MAX_HEADER_LINES} header lines. */
export function hasTooManyHeaderLines(req: IncomingMessage): boolean {
  return req.rawHeaders.length / 2 > MAX_HEADER_LINES;
}

/** The message of the 431 for a request with too many header lines. */
export const TOO_MANY_HEADER_LINES = 'Too many header lines';

/**
 * Middleware that answers a JSON 431 (and closes the connection, its body unread) to a request
 * with more than {@link MAX_HEADER_LINES} header lines, before any route, body limit or proxy.
 *
 * @example
 * app.use(refuseTooManyHeaderLines);
 */
export function refuseTooManyHeaderLines(
  req: IncomingMessage,
  res: ServerResponse,
  next: () => void,
): void {
  if (hasTooManyHeaderLines(req)) {
    answerWithError(res, 431, TOO_MANY_HEADER_LINES);
    return;
  }
  next();
}
