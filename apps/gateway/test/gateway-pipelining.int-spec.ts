import { createServer, IncomingMessage, Server } from 'node:http';
import { connect } from 'node:net';
import { NestExpressApplication } from '@nestjs/platform-express';

import { MAX_WAITING_REQUESTS } from '../src/app/security/pipelined-requests';
import { portOf } from './recording-service';
import { startGateway } from './start-gateway';

/**
 * A stand-in service that counts the requests it holds at once: each is answered with its path
 * a moment after it has been read, long enough for requests sent side by side to overlap;
 * those under `/api/auth/hold` are never answered.
 */
function countingService() {
  const counts = { arrived: 0, inFlight: 0, maxInFlight: 0, abandoned: 0 };
  const paths: string[] = [];
  const server = createServer((req: IncomingMessage, res) => {
    paths.push(req.url ?? '');
    counts.arrived += 1;
    counts.inFlight += 1;
    counts.maxInFlight = Math.max(counts.maxInFlight, counts.inFlight);
    res.once('close', () => {
      counts.inFlight -= 1;
      if (!res.writableFinished) counts.abandoned += 1;
    });
    req.resume();
    req.once('end', () => {
      if (req.url?.startsWith('/api/auth/hold')) return;
      setTimeout(() => {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ url: req.url }));
      }, 20);
    });
  });
  return new Promise<{ server: Server; counts: typeof counts; paths: string[] }>((done) =>
    server.listen(0, '127.0.0.1', () => done({ server, counts, paths })),
  );
}

/**
 * Writes `requests` in one go on one connection and collects what comes back until `enough`
 * says so, the gateway closes the connection, or 15 s have passed (a hang detector).
 */
function pipeline(gateway: Server, requests: string[], enough: (text: string) => boolean) {
  return new Promise<{ text: string; closed: boolean }>((resolve) => {
    const socket = connect({ host: '127.0.0.1', port: portOf(gateway) });
    let text = '';
    const done = (closed: boolean) => {
      clearTimeout(timer);
      socket.destroy();
      resolve({ text, closed });
    };
    const timer = setTimeout(() => done(false), 15_000);
    socket.on('error', () => undefined);
    socket.on('close', () => done(true));
    socket.on('data', (chunk: Buffer) => {
      text += chunk.toString('latin1');
      if (enough(text)) done(false);
    });
    socket.write(requests.join(''));
  });
}

async function until(condition: () => boolean): Promise<void> {
  for (let waited = 0; !condition() && waited < 10_000; waited += 20) {
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe('gateway, against pipelined requests', () => {
  let service: Awaited<ReturnType<typeof countingService>>;
  let app: NestExpressApplication;
  let host: string;

  beforeAll(async () => {
    service = await countingService();
    const url = `http://127.0.0.1:${portOf(service.server)}`;
    app = await startGateway({ AUTH_URL: url, ORDERS_URL: url, CATALOG_URL: url });
    host = `Host: 127.0.0.1:${portOf(app.getHttpServer())}`;
  });

  afterAll(async () => {
    await app?.close();
    service?.server.closeAllConnections();
    service?.server.close();
  });

  beforeEach(() => {
    Object.assign(service.counts, { arrived: 0, inFlight: 0, maxInFlight: 0, abandoned: 0 });
    service.paths.length = 0;
  });

  it("sends a connection's pipelined requests to the service one at a time, and answers them in order", async () => {
    const paths = Array.from({ length: 1 + MAX_WAITING_REQUESTS }, (_, i) => `/api/auth/r${i}`);
    const requests = paths.map((path, i) =>
      i % 2
        ? `POST ${path} HTTP/1.1\r\n${host}\r\nContent-Type: application/json\r\n` +
          `Content-Length: 2\r\n\r\n{}`
        : `GET ${path} HTTP/1.1\r\n${host}\r\n\r\n`,
    );
    const answered = (text: string) => [...text.matchAll(/"url":"([^"]+)"/g)].map(([, url]) => url);
    const { text, closed } = await pipeline(
      app.getHttpServer(),
      requests,
      (sofar) => answered(sofar).length === paths.length,
    );
    expect(closed).toBe(false);
    expect(answered(text)).toEqual(paths);
    expect(service.counts).toMatchObject({ arrived: paths.length, maxInFlight: 1 });
  });

  it('closes a connection whose upgrade comes pipelined behind requests not yet answered, and goes on serving', async () => {
    const upgrade = (offer: string) =>
      `GET /api/auth/upgraded HTTP/1.1\r\n${host}\r\nConnection: Upgrade\r\nUpgrade: ${offer}\r\n` +
      'Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n';
    // Before each upgrade, a request still with the service, or one the gateway answers at once
    // (no Host; an Expect it refuses): the second answer could not take the socket, and the
    // gateway stopped.
    const before = [
      `GET /api/auth/hold HTTP/1.1\r\n${host}\r\n\r\n`,
      'GET /api/auth/r HTTP/1.1\r\n\r\n',
      `GET /api/auth/r HTTP/1.1\r\n${host}\r\nExpect: nothing\r\n\r\n`,
    ];
    for (const first of before) {
      for (const offer of ['h2c', 'websocket']) {
        const { closed } = await pipeline(
          app.getHttpServer(),
          [first, upgrade(offer)],
          () => false,
        );
        expect({ first, offer, closed }).toEqual({ first, offer, closed: true });
      }
    }
    // Nothing of the upgrades reached the service; a held request that did was given up.
    await until(() => service.counts.inFlight === 0);
    expect(service.paths.filter((path) => path !== '/api/auth/hold')).toEqual([]);
    expect(service.counts.abandoned).toBe(service.counts.arrived);
    const { text } = await pipeline(
      app.getHttpServer(),
      [`GET /api/auth/after HTTP/1.1\r\n${host}\r\n\r\n`],
      (sofar) => sofar.includes('"url"'),
    );
    expect(text).toMatch(/^HTTP\/1\.1 200 .*"url":"\/api\/auth\/after"/s);
  });

  it('closes a connection whose CONNECT comes pipelined behind requests not yet answered, and goes on serving', async () => {
    const tunnel = (extra: string) =>
      `CONNECT evil.example:443 HTTP/1.1\r\nHost: evil.example:443\r\n${extra}\r\n`;
    const before = [
      `GET /api/auth/hold HTTP/1.1\r\n${host}\r\n\r\n`,
      'GET /api/auth/r HTTP/1.1\r\n\r\n',
      `GET /api/auth/r HTTP/1.1\r\n${host}\r\nExpect: nothing\r\n\r\n`,
      `POST /api/auth/r HTTP/1.1\r\n${host}\r\nContent-Length: 2\r\n\r\n{}`,
    ];
    for (const first of before) {
      for (const extra of ['', 'Content-Length: 4\r\n\r\nbody']) {
        const { text, closed } = await pipeline(
          app.getHttpServer(),
          [first, tunnel(extra)],
          () => false,
        );
        // Whatever the first request got, the CONNECT got nothing before it.
        expect({ first, extra, closed, refused: text.includes(' 405 ') }).toEqual({
          first,
          extra,
          closed: true,
          refused: false,
        });
      }
    }
    await until(() => service.counts.inFlight === 0);
    expect(service.counts.inFlight).toBe(0);
    const { text } = await pipeline(
      app.getHttpServer(),
      [`GET /api/auth/after HTTP/1.1\r\n${host}\r\n\r\n`],
      (sofar) => sofar.includes('"url"'),
    );
    expect(text).toMatch(/^HTTP\/1\.1 200 .*"url":"\/api\/auth\/after"/s);
  });

  it('closes a connection with more requests waiting than it takes, having sent the service one at most', async () => {
    const requests = Array.from(
      { length: 2 + MAX_WAITING_REQUESTS },
      (_, i) => `GET /api/auth/hold${i} HTTP/1.1\r\n${host}\r\n\r\n`,
    );
    const { text, closed } = await pipeline(app.getHttpServer(), requests, () => false);
    expect({ closed, text }).toEqual({ closed: true, text: '' });
    // The first request, if it reached the service before the connection closed, is given up
    // with it, not left waiting.
    await until(() => service.counts.inFlight === 0);
    expect(service.paths).toEqual(service.paths.length ? ['/api/auth/hold0'] : []);
    expect(service.counts.abandoned).toBe(service.counts.arrived);
  });
});
