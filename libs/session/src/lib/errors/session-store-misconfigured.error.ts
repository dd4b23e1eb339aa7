/**
 * The session store answers, but is set up so that it cannot keep the library's promises:
 * e.g. a Redis whose `maxmemory-policy` may evict the keys that index sessions. Raised by
 * `SessionStore.verify()` at start-up; the message says what to change.
 *
 * @example
 * await store.verify(); // throws SessionStoreMisconfiguredError: Redis at … evicts keys …
 */
export class SessionStoreMisconfiguredError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SessionStoreMisconfiguredError';
  }
}
