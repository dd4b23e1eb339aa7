/**
 * A reason the process cannot start (bad configuration, Redis or the database unreachable).
 * Its message is the one line main.ts prints before exiting: what is wrong, where, what to do.
 */
export class StartupError extends Error {
  constructor(message: string, cause?: unknown) {
    super(message, { cause });
    this.name = 'StartupError';
  }
}
