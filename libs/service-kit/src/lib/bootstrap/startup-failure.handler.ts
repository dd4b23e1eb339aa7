import { Logger } from '@nestjs/common';

import { StartupError } from './startup.error';

/**
 * The one way a service fails to start, then exits 1. A {@link StartupError} is a failure the
 * service knows how to explain: one line, `<service>: cannot start: <message>`, no stack, no
 * logs; so is a port it cannot listen on (taken, or not allowed), HTTP or RPC. Anything else is
 * a bug or a surprise: the logs buffered so far, then the stack.
 *
 * @param service the name the line starts with.
 * @example
 * exitOnStartupFailure('orders', error);
 * // orders: cannot start: Redis is not reachable at redis://127.0.0.1:6379; ...
 */
export function exitOnStartupFailure(service: string, error: unknown): never {
  const listening = listenFailure(error);
  if (error instanceof StartupError) {
    process.stderr.write(`${service}: cannot start: ${error.message.split('\n')[0]}\n`);
  } else if (listening) {
    process.stderr.write(`${service}: cannot start: ${listening}\n`);
  } else {
    Logger.flush();
    console.error(error);
  }
  process.exit(1);
}

/** The settings a server listens by, named in the line of a failure to listen. */
export interface ListenSettings {
  /** The setting that holds the port, e.g. `CATALOG_RPC_PORT`. */
  port: string;
  /** The setting that holds the address, e.g. `CATALOG_RPC_LISTEN_HOST`; none: every address. */
  host?: string;
}

/**
 * What a server's failure to listen (Node's `listen` errors) means, in one line, ending with
 * the setting to change when `settings` names them; undefined for any other error.
 *
 * @example
 * listenFailure(error, { port: 'ORDERS_PORT' });
 * // 'port 3002 is taken: another process listens on it (EADDRINUSE); set ORDERS_PORT'
 */
export function listenFailure(error: unknown, settings?: ListenSettings): string | undefined {
  const line = listenFailureLine(error);
  // Only the address can be wrong when it is not one of this host's.
  const { code } = (error ?? {}) as { code?: unknown };
  const setting = code === 'EADDRNOTAVAIL' ? settings?.host : settings?.port;
  return line && setting ? `${line}; set ${setting}` : line;
}

function listenFailureLine(error: unknown): string | undefined {
  const { code, syscall, address, port } = (error ?? {}) as NodeJS.ErrnoException & {
    address?: string;
    port?: number;
  };
  if (syscall !== 'listen' || typeof code !== 'string') {
    return undefined;
  }
  const where = port === undefined ? `${address ?? 'its address'}` : `port ${port}`;
  switch (code) {
    case 'EADDRINUSE':
      return `${where} is taken: another process listens on it (EADDRINUSE)`;
    case 'EACCES':
      return `${where} needs privileges this process lacks (EACCES)`;
    case 'EADDRNOTAVAIL':
      return `${address ?? 'the address'} is not an address of this host (EADDRNOTAVAIL)`;
    default:
      return `cannot listen on ${where} (${code})`;
  }
}
