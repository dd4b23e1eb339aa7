import { Logger } from '@nestjs/common';

import { StartupError } from './startup.error';

/**
 * The one way a service fails to start, then exits 1. A {@link StartupError} is a failure the
 * service knows how to explain: one line, `<service>: cannot start: <message>`, no stack, no
 * logs. Anything else is a bug or a surprise: the logs buffered so far, then the stack.
 *
 * @param service the name the line starts with.
 * @example
 * exitOnStartupFailure('orders', error);
 * // orders: cannot start: Redis is not reachable at redis://127.0.0.1:6379; ...
 */
export function exitOnStartupFailure(service: string, error: unknown): never {
  if (error instanceof StartupError) {
    process.stderr.write(`${service}: cannot start: ${error.message.split('\n')[0]}\n`);
  } else {
    Logger.flush();
    console.error(error);
  }
  process.exit(1);
}
