import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { INestApplication, Logger, ShutdownSignal } from '@nestjs/common';

/**
 * Milliseconds the requests in flight at a shutdown signal have to finish; then every
 * connection still open (WebSockets included) is closed. Under `docker stop`'s 10 s.
 */
export const SHUTDOWN_DRAIN_MS = 5_000;

/** Milliseconds past the drain after which a shutdown that has not ended exits 1 anyway. */
export const SHUTDOWN_GRACE_MS = 3_000;

/**
 * A rolling deploy's restart, in place of Nest's `enableShutdownHooks`: on SIGTERM (or another
 * of Nest's shutdown signals) the service stops accepting connections, closes its idle
 * kept-alive ones and lets the requests in flight finish (their answers, and any other given
 * meanwhile, carry `Connection: close`) while `stopping` runs (orders closes its WebSockets
 * with 1001; auth drains its session RPC, whose calls in flight need Redis too, and catalog
 * its price-quote RPC, whose calls wait on auth's), for at most
 * `drainMs`; only then does Nest's shutdown run its hooks, and the process ends with the
 * signal, as Nest's own would.
 *
 * Nest runs `onModuleDestroy` before it stops its HTTP server: the session store disconnected
 * Redis and orders its catalog client while the server was still taking requests, so a request
 * in flight at SIGTERM, or one that arrived during the hooks, answered 503. Connections still
 * open when the drain is over (a WebSocket the app did not close, a proxied one) are destroyed,
 * and a shutdown that has not ended `graceMs` after that exits 1: nothing holds the process.
 *
 * The signal listeners go when the HTTP server closes (`app.close()` in a test).
 *
 * @example
 * shutDownGracefully(app); // in configureServiceApp, before the app listens
 */
export function shutDownGracefully(
  app: INestApplication,
  {
    drainMs = SHUTDOWN_DRAIN_MS,
    graceMs = SHUTDOWN_GRACE_MS,
    stopping,
  }: { drainMs?: number; graceMs?: number; stopping?: () => Promise<void> | void } = {},
): void {
  const server: Server = app.getHttpServer();
  const logger = new Logger('Shutdown');
  const connections = new Set<Socket>();
  const inFlight = new Set<ServerResponse>();
  let draining = false;
  let drained: (() => void) | undefined;

  server.on('connection', (socket: Socket) => {
    connections.add(socket);
    socket.once('close', () => connections.delete(socket));
  });
  // First, so that the header is set before any handler can start the answer.
  server.prependListener('request', (_request: IncomingMessage, response: ServerResponse) => {
    if (draining) response.setHeader('Connection', 'close');
    inFlight.add(response);
    response.once('close', () => {
      inFlight.delete(response);
      if (inFlight.size === 0) drained?.();
    });
  });

  const signals = Object.values(ShutdownSignal);
  const unsubscribe = () => signals.forEach((signal) => process.off(signal, onSignal));
  let received = false;
  async function onSignal(signal: string): Promise<void> {
    if (received) return;
    received = true;
    draining = true;
    for (const response of inFlight) {
      if (!response.headersSent) response.setHeader('Connection', 'close');
    }
    server.close();
    const cutOff = setTimeout(() => {
      for (const socket of connections) socket.destroy();
    }, drainMs);
    const giveUp = setTimeout(() => {
      logger.error(`Still not stopped ${drainMs + graceMs} ms after ${signal}: exiting`);
      process.exit(1);
    }, drainMs + graceMs);
    cutOff.unref();
    giveUp.unref();
    try {
      const requests = new Promise<void>((resolve) => {
        drained = resolve;
        if (inFlight.size === 0) resolve();
      });
      await Promise.race([
        Promise.all([requests, stopping?.()]),
        new Promise((resolve) => setTimeout(resolve, drainMs).unref()),
      ]);
      await app.close();
    } catch (error) {
      logger.error(`Shutdown failed: ${(error as Error)?.stack ?? error}`);
      process.exit(1);
    }
    unsubscribe();
    process.kill(process.pid, signal);
  }
  signals.forEach((signal) => process.on(signal, onSignal));
  server.once('close', () => {
    if (!received) unsubscribe();
  });
}
