/**
 * A reason the process cannot start (bad configuration, Redis or the database unreachable).
 * Its message is the whole explanation: what is wrong, where, and what to do about it.
 *
 * @example
 * throw new StartupError(`Redis is not reachable at ${location}`, error);
 */
export class StartupError extends Error {
  constructor(message: string, cause?: unknown) {
    super(message, { cause });
    this.name = 'StartupError';
  }
}
