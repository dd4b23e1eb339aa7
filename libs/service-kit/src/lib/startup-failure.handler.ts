/**
 * Prints one line, no stack, and exits 1: what a person starting the service needs to read.
 * Only the first line of the error's message is kept.
 *
 * @param service the name the line starts with.
 * @example
 * bootstrap().catch(exitOnStartupFailure('orders'));
 * // orders: cannot start: Redis is not reachable at redis://127.0.0.1:6379/; ...
 */
export function exitOnStartupFailure(service: string): (error: unknown) => never {
  return (error: unknown): never => {
    const message = error instanceof Error ? error.message : String(error);
    process.stderr.write(`${service}: cannot start: ${message.split('\n')[0]}\n`);
    process.exit(1);
  };
}
