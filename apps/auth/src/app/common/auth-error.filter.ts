import { ArgumentsHost, Catch, HttpStatus } from '@nestjs/common';
import { Observable } from 'rxjs';

import { ErrorBody, HttpErrorFilter } from '@cloakroom/service-kit';
import { SessionStoreUnavailableError } from '@cloakroom/session';

import { TooManyAttemptsException } from './too-many-attempts.exception';

/**
 * The shared error shape, plus what only auth raises: a 429 that says in `Retry-After` when
 * to try again, and a 503 when the session store (Redis) does not answer.
 */
@Catch()
export class AuthErrorFilter extends HttpErrorFilter {
  override catch(exception: unknown, host: ArgumentsHost): void | Observable<never> {
    if (exception instanceof TooManyAttemptsException && host.getType() === 'http') {
      const response = host.switchToHttp().getResponse();
      const retryAfter = String(exception.retryAfterSeconds);
      this.adapterHost.httpAdapter.setHeader(response, 'Retry-After', retryAfter);
    }
    return super.catch(exception, host);
  }

  protected override toBody(exception: unknown): ErrorBody {
    if (exception instanceof SessionStoreUnavailableError) {
      return { statusCode: HttpStatus.SERVICE_UNAVAILABLE, message: 'Session store unavailable' };
    }
    return super.toBody(exception);
  }
}
