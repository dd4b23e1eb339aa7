import { createServer, request, Server, ServerResponse } from 'node:http';
import { AddressInfo, connect, Socket } from 'node:net';
import { NestExpressApplication } from '@nestjs/platform-express';

import { startGateway } from './start-gateway';

const KiB = 1024;

/** The stand-in proxy in front of the gateway; clients connect from other loopback addresses. */
const PROXY = '127.0.0.1';

/**
 * Orders' stand-in: records the `X-Forwarded-For` of each request as it arrives, body read, and
 * answers at once, except under `/api/orders/hold`, answered only on `releaseAll`: the gateway
 * holds those bodies of its memory until then.
 */
class StandInService {
  readonly forwardedFor: (string | undefined)[] = [];
  private readonly held: ServerResponse[] = [];
  private readonly waiting: (() => void)[] = [];
  private server!: Server;

  async start(): Promise<string> {
    this.server = createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        this.forwardedFor.push(req.headers['x-forwarded-for']?.toString());
        if (req.url?.startsWith('/api/orders/hold')) {
          this.held.push(res);
          this.waiting.splice(0).forEach((arrived) => arrived());
          return;
        }
        res.writeHead(201, { 'content-type': 'application/json' }).end('{"ok":true}');
      });
    });
    // A WebSocket handshake: recorded, then refused.
    this.server.on('upgrade', (req, socket: Socket) => {
      this.forwardedFor.push(req.headers['x-forwarded-for']?.toString());
      socket.end('HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n');
    });
    await new Promise<void>((done) => this.server.listen(0, '127.0.0.1', done));
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  /** Resolves once `count` held requests have arrived whole: the gateway holds their bodies. */
  async heldCount(count: number): Promise<void> {
    while (this.held.length < count) {
      await new Promise<void>((arrived) => this.waiting.push(arrived));
    }
  }

  releaseAll(): void {
    this.held.splice(0).forEach((res) => res.writeHead(201).end());
    this.forwardedFor.length = 0;
  }

  close(): void {
    this.releaseAll();
    this.server.closeAllConnections();
    this.server.close();
  }
}

/**
 * A POST of `bytes` to `path` from the loopback address `from`, with `X-Forwarded-For:
 * forwardedFor` when given: its status once answered.
 */
function post(
  port: number,
  { from, forwardedFor, path = '/api/orders', bytes = 0 }: PostOptions,
): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port,
        localAddress: from,
        method: 'POST',
        path,
        agent: false,
        headers: {
          'content-type': 'application/octet-stream',
          'content-length': bytes,
          ...(forwardedFor !== undefined && { 'x-forwarded-for': forwardedFor }),
        },
      },
      (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      },
    );
    req.on('error', reject);
    req.end(Buffer.alloc(bytes, 'x'));
  });
}

interface PostOptions {
  from: string;
  forwardedFor?: string;
  path?: string;
  bytes?: number;
}

/**
 * Opens `count` connections from `from` at once, then sends a GET on each: how many were
 * answered (the rest were closed by the connection cap).
 */
async function answeredOf(port: number, from: string, count: number): Promise<number> {
  const sockets: Socket[] = [];
  await Promise.all(
    Array.from(
      { length: count },
      () =>
        new Promise<void>((done) => {
          const socket = connect({ host: '127.0.0.1', port, localAddress: from }, done);
          socket.on('error', () => done());
          sockets.push(socket);
        }),
    ),
  );
  const answers = await Promise.all(
    sockets.map(
      (socket) =>
        new Promise<boolean>((done) => {
          let text = '';
          socket.on('data', (chunk: Buffer) => {
            text += chunk.toString('latin1');
            if (text.includes('\r\n\r\n')) done(true);
          });
          socket.on('close', () => done(text.startsWith('HTTP/1.1 ')));
          socket.write(
            `GET /api/orders/x HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n\r\n`,
            () => undefined,
          );
        }),
    ),
  );
  sockets.forEach((socket) => socket.destroy());
  return answers.filter(Boolean).length;
}

describe.each([
  ['it trusts', `${PROXY}, 10.0.0.0/8`],
  ['it does not trust', ''],
])('gateway behind a proxy %s (GATEWAY_TRUST_PROXY=%j)', (what, trustProxy) => {
  const trusted = what === 'it trusts';
  const service = new StandInService();
  let app: NestExpressApplication;
  let port: number;

  beforeAll(async () => {
    const url = await service.start();
    app = await startGateway({
      ORDERS_URL: url,
      AUTH_URL: 'http://127.0.0.1:9',
      CATALOG_URL: 'http://127.0.0.1:9',
      // 1 MiB in all, 128 KiB per client; orders takes bodies up to 100 KiB.
      PROXY_BODY_MEMORY: '1',
      PROXY_BODY_MEMORY_PER_CLIENT: String(128 / 1024),
      CONNECTIONS_PER_CLIENT: '8',
      GATEWAY_TRUST_PROXY: trustProxy,
    });
    port = (app.getHttpServer().address() as AddressInfo).port;
  });

  afterEach(() => service.releaseAll());

  afterAll(async () => {
    await app?.close();
    service.close();
  });

  it('tells the service the client the proxy names only when the proxy is trusted', async () => {
    const cases: [string | undefined, string][] = [
      ['198.51.100.1, 203.0.113.9', '203.0.113.9'],
      // Trusted hops on the right are skipped; what a client wrote on the left is not read.
      ['198.51.100.1, 203.0.113.9, 10.1.2.3', '203.0.113.9'],
      ['10.9.9.9,2001:db8::7 , 10.1.2.3', '2001:db8::7'],
      // No client named, or something that is no address: the proxy itself.
      [undefined, PROXY],
      ['not-an-address', PROXY],
      ['203.0.113.9, 10.1.2.3, junk', PROXY],
    ];
    for (const [forwardedFor, client] of cases) {
      expect(await post(port, { from: PROXY, forwardedFor })).toBe(201);
      expect(service.forwardedFor.pop()).toBe(trusted ? client : PROXY);
    }
  });

  it('tells the service the same client on a WebSocket handshake', async () => {
    const socket = connect({ host: '127.0.0.1', port, localAddress: PROXY });
    socket.resume();
    socket.write(
      `GET /api/orders/ws HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n` +
        'Connection: Upgrade\r\nUpgrade: websocket\r\n' +
        'Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n' +
        'X-Forwarded-For: 198.51.100.1, 203.0.113.9\r\n\r\n',
    );
    await new Promise((closed) => socket.on('close', closed));
    expect(service.forwardedFor).toEqual([trusted ? '203.0.113.9' : PROXY]);
  });

  it('ignores the X-Forwarded-For of a client that connects directly', async () => {
    for (const forwardedFor of ['203.0.113.9', `203.0.113.9, ${PROXY}`, '10.1.2.3']) {
      expect(await post(port, { from: '127.0.0.2', forwardedFor })).toBe(201);
      expect(service.forwardedFor.pop()).toBe('127.0.0.2');
    }
  });

  it("holds bodies in the share of the client a trusted proxy names, not a direct client's claim", async () => {
    // Client A, through the proxy: two bodies of 60 KiB held, 120 of its 128 KiB.
    const a = { from: PROXY, forwardedFor: '203.0.113.1', path: '/api/orders/hold' };
    const first = post(port, { ...a, bytes: 60 * KiB });
    await service.heldCount(1);
    const second = post(port, { ...a, bytes: 60 * KiB });
    await service.heldCount(2);

    expect(await post(port, { ...a, path: '/api/orders', bytes: 20 * KiB })).toBe(429);
    // Client B, through the same proxy: its own share when the proxy is trusted.
    const b = { from: PROXY, forwardedFor: '203.0.113.2', bytes: 20 * KiB };
    expect(await post(port, b)).toBe(trusted ? 201 : 429);
    // A direct client that claims to be someone else is still itself.
    const direct = { from: '127.0.0.2', forwardedFor: '203.0.113.3', bytes: 20 * KiB };
    expect(await post(port, direct)).toBe(201);

    service.releaseAll();
    expect(await Promise.all([first, second])).toEqual([201, 201]);
  });

  it("holds the bodies of all /64s of one IPv6 /48 in one share of four clients' worth", async () => {
    // Two bodies of 60 KiB from each of six /64s of one /48: 720 of the gateway's 1024 KiB and
    // each /64 within its 128 KiB, but the /48 past its 4 × 128 KiB after four /64s.
    const outcomes: (number | 'held')[] = [];
    const answered: Promise<number>[] = [];
    for (let network = 1; network <= 6; network += 1) {
      for (const host of [1, 2]) {
        const forwardedFor = `2001:db8:5:${network}::${host}`;
        const status = post(port, {
          from: PROXY,
          forwardedFor,
          path: '/api/orders/hold',
          bytes: 60 * KiB,
        });
        answered.push(status);
        const held = outcomes.filter((outcome) => outcome === 'held').length;
        outcomes.push(
          await Promise.race([status, service.heldCount(held + 1).then(() => 'held' as const)]),
        );
      }
    }
    // Untrusted, all of them are the proxy's: two bodies.
    const heldCount = trusted ? 8 : 2;
    expect(outcomes).toEqual([
      ...new Array<'held'>(heldCount).fill('held'),
      ...new Array<number>(12 - heldCount).fill(429),
    ]);
    // Another /48 and an IPv4 client, named by the proxy, have their own shares.
    for (const forwardedFor of ['2001:db8:6:1::1', '203.0.113.4']) {
      expect(await post(port, { from: PROXY, forwardedFor, bytes: 20 * KiB })).toBe(
        trusted ? 201 : 429,
      );
    }

    service.releaseAll();
    const statuses = await Promise.all(answered);
    expect(statuses.filter((status) => status === 201)).toHaveLength(heldCount);
  });

  it("exempts only a trusted proxy's connections from the per-client cap", async () => {
    expect(await answeredOf(port, PROXY, 10)).toBe(trusted ? 10 : 8);
    expect(await answeredOf(port, '127.0.0.2', 10)).toBe(8);
  });
});
