import { ArgumentsHost, Catch } from '@nestjs/common';
import { Observable } from 'rxjs';

import { HttpErrorFilter } from '@cloakroom/service-kit';
import { SessionUserChangedError } from '@cloakroom/session';

import { PasswordWorkBusyException } from './password-work-busy.exception';
import { TooManyAttemptsException } from './too-many-attempts.exception';

/**
 * The shared error shape, plus what only auth raises: a 429 (throttled login, or password work
 * past a client's fair share) or 503 (every password-hashing slot busy, or an account that kept
 * changing during a login) that says in `Retry-After` when to try again. (A session store that
 * does not answer is a 503 like in every service: the library's error is a
 * `ServiceUnavailableException`.)
 */
@Catch()
export class AuthErrorFilter extends HttpErrorFilter {
  override catch(exception: unknown, host: ArgumentsHost): void | Observable<never> {
    const retryAfter = retryAfterOf(exception);
    if (retryAfter !== undefined && host.getType() === 'http') {
      const response = host.switchToHttp().getResponse();
      this.adapterHost.httpAdapter.setHeader(response, 'Retry-After', String(retryAfter));
    }
    return super.catch(exception, host);
  }
}

/**
 * Seconds after which the same request may succeed: a throttle's or the hashing slots' own
 * estimate, or 1 for a login whose account kept changing while its session was being created
 * (nothing is down: the next try reads the account as it now is).
 */
function retryAfterOf(exception: unknown): number | undefined {
  if (
    exception instanceof TooManyAttemptsException ||
    exception instanceof PasswordWorkBusyException
  ) {
    return exception.retryAfterSeconds;
  }
  return exception instanceof SessionUserChangedError ? 1 : undefined;
}
