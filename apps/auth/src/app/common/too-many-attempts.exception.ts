import { HttpException, HttpStatus } from '@nestjs/common';

/**
 * The login-throttle counter that refused an attempt: the username's from one client network
 * (`pair`), the username's across networks (`user`, its ceiling), the network's whatever the
 * username (`network`), or the IPv6 site's (/48) whatever the username and network (`site`).
 */
export type ThrottleCounter = 'pair' | 'user' | 'network' | 'site';

/**
 * 429 that tells the client, in a `Retry-After` header, when it may try again. `failures` says
 * why: failed attempts reached a limit (a refusal worth recording), or attempts still being
 * checked filled it and none freed a place in time (a burst of logins, not of guesses).
 * `counter` says which limit refused it.
 */
export class TooManyAttemptsException extends HttpException {
  constructor(
    readonly retryAfterSeconds: number,
    readonly failures = true,
    readonly counter: ThrottleCounter = 'pair',
  ) {
    super(
      failures
        ? 'Too many failed attempts, try again later'
        : 'Too many attempts under way, try again in a moment',
      HttpStatus.TOO_MANY_REQUESTS,
    );
  }
}
