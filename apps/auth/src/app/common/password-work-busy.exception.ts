import { HttpException, HttpStatus } from '@nestjs/common';

/**
 * 503 when every password-hashing slot is busy and the wait queue is full: the client may try
 * again in `retryAfterSeconds` (sent as `Retry-After`). A burst of logins then costs the
 * attacker a retry, not the server its cores.
 */
export class PasswordWorkBusyException extends HttpException {
  /**
   * @param passwordUnchecked true when no password of the request was checked before the
   * refusal (its login attempt may then be taken back); false when it may have been.
   */
  constructor(
    readonly retryAfterSeconds = 1,
    readonly passwordUnchecked = false,
  ) {
    super('Too many password checks at once, try again shortly', HttpStatus.SERVICE_UNAVAILABLE);
  }
}
