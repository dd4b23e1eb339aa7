/**
 * The session store could not answer (down, or slower than `storeTimeout`). The guard
 * turns it into 503: a request is never let through, and never answered 500, for it.
 */
export class SessionStoreUnavailableError extends Error {
  constructor(cause?: unknown) {
    super('Session store unavailable', { cause });
    this.name = 'SessionStoreUnavailableError';
  }
}
