import { REQUEST_SESSION_PROPERTY, REQUEST_TOKEN_PROPERTY } from '../session.constants';
import type { Session } from '../session.types';
import type { RequestToken } from './request-token.reader';

/**
 * What `SessionGuard` attaches to an HTTP request it lets through with a session: the
 * session, and the token it validated with where it came from.
 *
 * @example
 * @Post('password')
 * change(@Req() request: SessionRequest) {
 *   const { token, source } = request[REQUEST_TOKEN_PROPERTY]!;
 * }
 */
export interface SessionRequest {
  [REQUEST_SESSION_PROPERTY]?: Session;
  [REQUEST_TOKEN_PROPERTY]?: RequestToken;
}
