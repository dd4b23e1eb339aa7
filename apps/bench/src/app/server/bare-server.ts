import { createServer, IncomingMessage, Server, ServerResponse } from 'node:http';

import express from 'express';
import Fastify from 'fastify';

import { countConnections, linkToParent, readSettings, send } from './parent-link';

/**
 * The servers `bare` compares, with no Nest and no guard, each answering `GET /bench` with
 * `{"ok":true}`: Node's `http` alone; the same after giving the request and the response other
 * prototypes, as Express does to every request before routing; Express; Fastify.
 */
export const BARE_SERVERS = ['http', 'http-prototypes', 'express', 'fastify'] as const;
export type BareServer = (typeof BARE_SERVERS)[number];

export const BARE_SETTINGS_VARIABLE = 'BENCH_BARE_SETTINGS';

export interface BareSettings {
  server: BareServer;
  port: number;
}

const BODY = JSON.stringify({ ok: true });

/**
 * The path the `gateway` run requests, directly and through the gateway (which forwards
 * `/api/orders/...` as it is): the bare `http` server answers it as it answers `/bench`.
 */
export const GATEWAY_BENCH_PATH = '/api/orders/bench';

/** A bare server listening on `port` of the loopback interface; resolves with its close. */
export async function listenBare(server: BareServer, port: number): Promise<() => Promise<void>> {
  if (server === 'fastify') {
    const app = Fastify();
    app.get('/bench', async () => ({ ok: true }));
    await app.listen({ port, host: '127.0.0.1' });
    return () => app.close();
  }
  if (server === 'express') {
    const app = express();
    app.get('/bench', (_request, response) => {
      response.json({ ok: true });
    });
    return listen(createServer(app), port);
  }
  const swap = server === 'http-prototypes' ? swappedPrototypes() : undefined;
  return listen(
    createServer((request, response) => {
      if (swap) {
        Object.setPrototypeOf(request, swap.request);
        Object.setPrototypeOf(response, swap.response);
      }
      if (request.url !== '/bench' && request.url !== GATEWAY_BENCH_PATH) {
        response.writeHead(404).end();
        return;
      }
      response.writeHead(200, {
        'content-type': 'application/json; charset=utf-8',
        'content-length': Buffer.byteLength(BODY),
      });
      response.end(BODY);
    }),
    port,
  );
}

/**
 * Prototypes made as Express makes its own: an object over Node's, with one property of the
 * app's, that every request's and response's prototype is switched to.
 */
function swappedPrototypes(): { request: object; response: object } {
  const app = {};
  return {
    request: Object.create(IncomingMessage.prototype, { app: { value: app, writable: true } }),
    response: Object.create(ServerResponse.prototype, { app: { value: app, writable: true } }),
  };
}

function listen(server: Server, port: number): Promise<() => Promise<void>> {
  countConnections(server);
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () =>
      resolve(
        () =>
          new Promise<void>((closed) => {
            server.closeAllConnections();
            server.close(() => closed());
          }),
      ),
    );
  });
}

/** `main.js bare-server`: one bare server in its own process, as the runner forks it. */
export async function startBareServer(): Promise<void> {
  const { server, port } = readSettings<BareSettings>(BARE_SETTINGS_VARIABLE);
  linkToParent();
  await listenBare(server, port);
  send({ type: 'ready' });
}
