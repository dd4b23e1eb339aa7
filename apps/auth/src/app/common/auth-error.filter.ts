import { ArgumentsHost, Catch } from '@nestjs/common';
import { Observable } from 'rxjs';

import { HttpErrorFilter } from '@cloakroom/service-kit';

import { PasswordWorkBusyException } from './password-work-busy.exception';
import { TooManyAttemptsException } from './too-many-attempts.exception';

/**
 * The shared error shape, plus what only auth raises: a 429 (throttled login) or 503 (every
 * password-hashing slot busy) that says in `Retry-After` when to try again. (A session store
 * that does not answer is a 503 like in every service: the library's error is a
 * `ServiceUnavailableException`.)
 */
@Catch()
export class AuthErrorFilter extends HttpErrorFilter {
  override catch(exception: unknown, host: ArgumentsHost): void | Observable<never> {
    if (
      (exception instanceof TooManyAttemptsException ||
        exception instanceof PasswordWorkBusyException) &&
      host.getType() === 'http'
    ) {
      const response = host.switchToHttp().getResponse();
      const retryAfter = String(exception.retryAfterSeconds);
      this.adapterHost.httpAdapter.setHeader(response, 'Retry-After', retryAfter);
    }
    return super.catch(exception, host);
  }
}
