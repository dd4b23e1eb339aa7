import { createServer, request as httpRequest, Server, ServerResponse } from 'node:http';
import { AddressInfo } from 'node:net';
import { NestExpressApplication } from '@nestjs/platform-express';

import { startGateway } from './start-gateway';
import { WatchedService } from './watched-service';

/** When a slow answer has got as far as the service lets it before its client hangs up. */
type Stage = 'unanswered' | 'head sent';

/**
 * A Node service (keep-alive, as the real ones run) that holds each answer to `/api/orders/slow`
 * until it is released: unanswered, or with its head and part of its body sent. It counts the
 * connections it has open and says when a request arrives or a connection closes.
 */
class SlowService extends WatchedService {
  stage: Stage = 'unanswered';
  readonly held: ServerResponse[] = [];
  requests = 0;
  private readonly server: Server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      this.requests++;
      if (!req.url?.endsWith('/slow')) {
        res.end('{}');
      } else if (this.stage === 'unanswered') {
        this.held.push(res);
      } else {
        res.writeHead(200, { 'content-type': 'text/plain', 'content-length': 10 });
        res.write('half');
        this.held.push(res);
      }
      this.changed();
    });
  });

  async listen(): Promise<number> {
    this.watch(this.server);
    await new Promise<void>((done) => this.server.listen(0, '127.0.0.1', done));
    return (this.server.address() as AddressInfo).port;
  }

  /** Sends the held answers' ends. */
  release(): void {
    for (const res of this.held.splice(0)) {
      if (res.headersSent) res.end('-rest-');
      else res.end('{}');
    }
  }

  close(): void {
    this.server.close();
    this.open.forEach((socket) => socket.destroy());
  }
}

/** A GET through the gateway on a connection of its own; `head` once the answer has begun. */
function get(port: number, path: string) {
  const req = httpRequest({ host: '127.0.0.1', port, path, agent: false });
  const head = new Promise<number | undefined>((resolve) => {
    req.on('response', (response) => {
      response.on('error', () => undefined);
      resolve(response.statusCode);
    });
    req.on('error', () => resolve(undefined));
  });
  req.end();
  return { req, head };
}

describe('gateway, when a client hangs up before the answer', () => {
  const service = new SlowService();
  let app: NestExpressApplication;
  let port: number;

  beforeAll(async () => {
    app = await startGateway({
      AUTH_URL: 'http://127.0.0.1:9',
      ORDERS_URL: `http://127.0.0.1:${await service.listen()}`,
      CATALOG_URL: 'http://127.0.0.1:9',
      // Far beyond the waits below: only the client's leaving may free the connections.
      PROXY_TIMEOUT: '60',
    });
    port = (app.getHttpServer().address() as AddressInfo).port;
  });

  afterAll(async () => {
    service.release();
    await app.close();
    service.close();
  });

  afterEach(async () => {
    service.release();
    // Connections the gateway still holds to the service are its pool's, idle now: they go.
    await service.until(() => service.held.length === 0, 1_000);
  });

  it.each<Stage>(['unanswered', 'head sent'])(
    'closes its connection to the service when the client has gone (answer %s), and sends nothing again',
    async (stage) => {
      service.stage = stage;
      service.requests = 0;
      const clients = Array.from({ length: 8 }, () => get(port, '/api/orders/slow'));
      expect(await service.until(() => service.held.length === 8, 5_000)).toBe(true);
      const before = service.open.size;
      expect(before).toBeGreaterThanOrEqual(8);
      if (stage === 'head sent') {
        expect(await Promise.all(clients.map(({ head }) => head))).toEqual(Array(8).fill(200));
      }
      clients.forEach(({ req }) => req.destroy());
      // Each of the 8 connections the slow answers held is closed, well before PROXY_TIMEOUT.
      expect(await service.until(() => service.open.size <= before - 8, 5_000)).toBe(true);
      expect(service.requests).toBe(8);
      // The pool goes on: a request after them is answered.
      const after = get(port, '/api/orders/fast');
      expect(await after.head).toBe(200);
      after.req.destroy();
    },
    15_000,
  );
});
