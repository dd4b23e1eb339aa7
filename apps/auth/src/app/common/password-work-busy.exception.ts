import { HttpException, HttpStatus } from '@nestjs/common';

/**
 * Refused password work: the client may try again in `retryAfterSeconds` (sent as
 * `Retry-After`). A 503 when every password-hashing slot is busy and the wait queue is full of
 * work no more than one place per source; a 429 (`overShare`) when the refused work's client
 * network or username held more places than others at the time, so the refusal is about its
 * own demand (a flood of right logins from one network or one account) and leaves room for the
 * rest. A burst of logins then costs its sender a retry, not the server its cores nor the
 * other users their logins.
 */
export class PasswordWorkBusyException extends HttpException {
  /**
   * @param passwordUnchecked true when no password of the request was checked before the
   * refusal (its login attempt may then be taken back); false when it may have been.
   * @param overShare true when its source held more of the hashing capacity than others: 429.
   */
  constructor(
    readonly retryAfterSeconds = 1,
    readonly passwordUnchecked = false,
    readonly overShare = false,
  ) {
    super(
      overShare
        ? 'Too many password checks under way from this network or for this account, try again shortly'
        : 'Too many password checks at once, try again shortly',
      overShare ? HttpStatus.TOO_MANY_REQUESTS : HttpStatus.SERVICE_UNAVAILABLE,
    );
  }
}
