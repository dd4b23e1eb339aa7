import { UnauthorizedException } from '@nestjs/common';

/**
 * What `SessionGuard` throws on a `@RequireRecentAuth()` route when the session's
 * `authenticatedAt` is older than the route's window: a 401 whose body says
 * `error: 'reauthentication_required'`, so a client asks for the password again (and retries)
 * instead of logging out.
 *
 * @example
 * // 401 { statusCode: 401, message: 'Recent authentication required',
 * //       error: 'reauthentication_required' }
 * throw new ReauthenticationRequiredException();
 */
export class ReauthenticationRequiredException extends UnauthorizedException {
  constructor() {
    super({
      statusCode: 401,
      message: 'Recent authentication required',
      error: 'reauthentication_required',
    });
    this.name = 'ReauthenticationRequiredException';
  }
}
