import { HttpException, HttpStatus } from '@nestjs/common';

/**
 * 503 when every password-hashing slot is busy and the wait queue is full: the client may try
 * again in `retryAfterSeconds` (sent as `Retry-After`). A burst of logins then costs the
 * attacker a retry, not the server its cores.
 */
export class PasswordWorkBusyException extends HttpException {
  constructor(readonly retryAfterSeconds = 1) {
    super('Too many password checks at once, try again shortly', HttpStatus.SERVICE_UNAVAILABLE);
  }
}
