import type { IncomingMessage, ServerResponse } from 'node:http';

/**
 * The parts of Express's request and response the app uses, typed from Node's own classes:
 * `express` is only a transitive dependency (through @nestjs/platform-express).
 */
export type HttpRequest = IncomingMessage & {
  /** Always set on a request a server received. */
  method: string;
  /** The client address, after Express applied `trust proxy`. */
  ip?: string;
  body?: unknown;
  /** Set by passport after a successful login. */
  user?: unknown;
};

export type HttpResponse = ServerResponse;
