/** A dependency the service cannot start without; its message is the whole explanation. */
export class StartupError extends Error {
  override name = 'StartupError';
}

/** Prints one line, no stack, and exits 1: what a person starting the service needs to read. */
export function exitOnStartupFailure(service: string) {
  return (error: unknown): never => {
    const message = error instanceof Error ? error.message : String(error);
    process.stderr.write(`${service}: cannot start: ${message.split('\n')[0]}\n`);
    process.exit(1);
  };
}
