import type { Server } from 'node:http';

/** How often the server looks for connections past their deadline (Node's default: 30 s). */
export const DEADLINE_CHECK_INTERVAL_MS = 1_000;

/** How long a client may take to send a request, in seconds. */
export interface RequestDeadlines {
  /** From the connection's first byte (or the end of its previous request) to its headers' end. */
  headers: number;
  /** From the same start to the request's last byte, body included. */
  request: number;
}

/**
 * Closes the connection of a client that sends a request too slowly: its headers not complete
 * within `headers` seconds, or the whole request, body included, within `request` seconds. The
 * client gets a 408 (in JSON, through `answerClientErrors`) and the connection is closed. A
 * connection that sends nothing at all gets the headers deadline too; one kept alive between
 * requests is closed after Node's `keepAliveTimeout` (5 s). Nothing limits an answer's time or
 * a connection upgraded to a WebSocket: the deadlines end with the request's last byte.
 *
 * Node's own deadlines (60 s for headers, 300 s for a request, checked every 30 s) let one host
 * hold thousands of connections for five minutes with a byte now and then, each with the body it
 * has sent so far in memory (the gateway reads bodies whole before forwarding them).
 *
 * Must run before the server listens: Node reads the check interval when it starts listening.
 *
 * @example
 * limitSlowClients(app.getHttpServer(), { headers: 10, request: 30 });
 */
export function limitSlowClients(server: Server, deadlines: RequestDeadlines): void {
  if (server.listening) {
    throw new Error('limitSlowClients must run before the server listens');
  }
  server.requestTimeout = Math.round(deadlines.request * 1000);
  // A request's deadline covers its headers as well.
  server.headersTimeout = Math.round(Math.min(deadlines.headers, deadlines.request) * 1000);
  // Read once, when the server starts listening; an option of `createServer`, which Nest calls.
  (server as Server & { connectionsCheckingInterval: number }).connectionsCheckingInterval =
    Math.min(DEADLINE_CHECK_INTERVAL_MS, server.headersTimeout);
}
