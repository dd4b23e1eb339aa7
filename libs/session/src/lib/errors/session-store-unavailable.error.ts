import { ServiceUnavailableException } from '@nestjs/common';

/**
 * The session store could not answer (down, or slower than `storeTimeout`). It is a Nest
 * `ServiceUnavailableException`, so every exception filter answers 503 for it: a request is
 * never let through, and never answered 500, because the store is away.
 *
 * @example
 * try {
 *   await sessions.validate(token);
 * } catch (error) {
 *   if (error instanceof SessionStoreUnavailableError) retryLater();
 *   throw error;
 * }
 */
export class SessionStoreUnavailableError extends ServiceUnavailableException {
  constructor(cause?: unknown) {
    super('Session store unavailable', { cause });
    this.name = 'SessionStoreUnavailableError';
  }
}
