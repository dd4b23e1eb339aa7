import { ArgumentsHost, Catch, ExceptionFilter, HttpStatus } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';

import { SessionLimitReachedError } from '@cloakroom/session';

/**
 * The 409 of `SESSION_CAP_POLICY=refuse`: the user's live sessions (id, times, device label;
 * never an address or a token) so the page can offer which one to end, by logging in again
 * with `replaceSession`. Only the user who just gave the right password sees the list.
 */
@Catch(SessionLimitReachedError)
export class SessionLimitFilter implements ExceptionFilter<SessionLimitReachedError> {
  constructor(private readonly adapterHost: HttpAdapterHost) {}

  catch(error: SessionLimitReachedError, host: ArgumentsHost): void {
    const response = host.switchToHttp().getResponse();
    const { httpAdapter } = this.adapterHost;
    httpAdapter.setHeader(response, 'Cache-Control', 'no-store');
    httpAdapter.reply(
      response,
      {
        statusCode: HttpStatus.CONFLICT,
        message: error.message,
        sessions: error.sessions.map((session) => ({
          id: session.id,
          createdAt: new Date(session.createdAt).toISOString(),
          lastSeenAt: new Date(session.lastSeenAt).toISOString(),
          device: session.device,
        })),
      },
      HttpStatus.CONFLICT,
    );
  }
}
