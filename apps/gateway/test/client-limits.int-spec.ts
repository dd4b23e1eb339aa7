import { createServer, Server } from 'node:http';
import { AddressInfo, connect, Socket } from 'node:net';
import { Logger } from '@nestjs/common';
import { NestExpressApplication } from '@nestjs/platform-express';

import { startGateway } from './start-gateway';

const KiB = 1024;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Orders' stand-in: counts the bodies that reach it, and their bytes. */
function countingService(reached: number[]): Promise<Server> {
  const server = createServer((req, res) => {
    let length = 0;
    req.on('data', (chunk: Buffer) => (length += chunk.length));
    req.on('end', () => {
      reached.push(length);
      res.writeHead(201, { 'content-type': 'application/json' }).end('{"ok":true}');
    });
  });
  return new Promise((done) => server.listen(0, '127.0.0.1', () => done(server)));
}

/** A POST to /api/orders from `from` (a loopback address), its body declared `declared` long or chunked. */
class Upload {
  readonly socket: Socket;
  text = '';
  private readonly closed: Promise<void>;

  constructor(port: number, from: string, declared: number | 'chunked') {
    this.socket = connect({ host: '127.0.0.1', port, localAddress: from });
    this.socket.on('data', (chunk: Buffer) => (this.text += chunk.toString('latin1')));
    this.socket.on('error', () => undefined);
    this.closed = new Promise((resolve) => this.socket.on('close', () => resolve()));
    this.socket.write(
      `POST /api/orders HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n` +
        'Content-Type: application/octet-stream\r\n' +
        (declared === 'chunked'
          ? 'Transfer-Encoding: chunked\r\n'
          : `Content-Length: ${declared}\r\n`) +
        'Connection: close\r\n\r\n',
    );
    uploads.push(this);
  }

  /** Sends `bytes` of the body, then waits a moment for the gateway to have read them. */
  async send(bytes: number): Promise<this> {
    this.socket.write(Buffer.alloc(bytes, 'x'));
    await sleep(150);
    return this;
  }

  /** The status, headers and body of the answer, once the gateway has closed the connection. */
  async answer(ms = 5_000): Promise<{ status: number; head: string; body: string }> {
    // Cleared once the answer is in: a pending timer would hold the test process open.
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<void>((resolve) => (timer = setTimeout(resolve, ms)));
    await Promise.race([this.closed, late]);
    clearTimeout(timer);
    const [head, body = ''] = this.text.split('\r\n\r\n');
    return { status: Number(/^HTTP\/1\.1 (\d{3})/.exec(head)?.[1] ?? 0), head, body };
  }
}

const uploads: Upload[] = [];

/** A whole body of `bytes` sent at once from `from`: its answer. */
async function postAll(port: number, from: string, bytes: number) {
  return (await new Upload(port, from, bytes).send(bytes)).answer();
}

describe('gateway: request bodies it holds while reading them', () => {
  const reached: number[] = [];
  let orders: Server;
  let app: NestExpressApplication;
  let port: number;

  beforeAll(async () => {
    orders = await countingService(reached);
    app = await startGateway({
      ORDERS_URL: `http://127.0.0.1:${(orders.address() as AddressInfo).port}`,
      AUTH_URL: 'http://127.0.0.1:9',
      CATALOG_URL: 'http://127.0.0.1:9',
      // 256 KiB in all, 128 KiB per client; orders takes bodies up to 100 KiB.
      PROXY_BODY_MEMORY: String(256 / 1024),
      PROXY_BODY_MEMORY_PER_CLIENT: String(128 / 1024),
      HTTP_REQUEST_TIMEOUT: '3',
    });
    port = (app.getHttpServer().address() as AddressInfo).port;
  });

  afterEach(() => {
    uploads.splice(0).forEach((upload) => upload.socket.destroy());
    reached.length = 0;
  });

  afterAll(async () => {
    await app?.close();
    orders?.close();
  });

  it("answers 429 to a client past its share of slow bodies, while others' bodies go through", async () => {
    // Two bodies that stall after 60 KiB each: 120 of the client's 128 KiB held.
    await new Upload(port, '127.0.0.2', 100 * KiB).send(60 * KiB);
    await new Upload(port, '127.0.0.2', 100 * KiB).send(60 * KiB);

    const refused = await postAll(port, '127.0.0.2', 20 * KiB);
    expect(refused.status).toBe(429);
    expect(refused.head).toMatch(/\r\nretry-after: 1\r\n/i);
    expect(JSON.parse(refused.body)).toEqual({
      statusCode: 429,
      message: 'Too many request bodies in flight from this client',
    });
    expect((await postAll(port, '127.0.0.3', 20 * KiB)).status).toBe(201);
    // The refused body was read and dropped, never forwarded.
    expect(reached).toEqual([20 * KiB]);
    // A chunked body refused for memory, then over orders' limit: 413, as sending it again
    // cannot help.
    const chunked = new Upload(port, '127.0.0.2', 'chunked');
    for (let sent = 0; sent <= 100 * KiB; sent += 20 * KiB) {
      chunked.socket.write(`${(20 * KiB).toString(16)}\r\n${'x'.repeat(20 * KiB)}\r\n`);
    }
    chunked.socket.write('0\r\n\r\n');
    expect((await chunked.answer()).status).toBe(413);
  });

  it("answers 503 once all clients' slow bodies hold the gateway's budget", async () => {
    for (const from of ['127.0.0.2', '127.0.0.3']) {
      await new Upload(port, from, 100 * KiB).send(60 * KiB);
      await new Upload(port, from, 100 * KiB).send(60 * KiB);
    }
    // 240 of 256 KiB held: a fifth client, within its own share, finds no room.
    const refused = await postAll(port, '127.0.0.4', 20 * KiB);
    expect(refused.status).toBe(503);
    expect(refused.head).toMatch(/\r\nretry-after: 1\r\n/i);
    expect(JSON.parse(refused.body)).toEqual({ statusCode: 503, message: 'The gateway is busy' });
    // A body that fits in what is left goes through.
    expect((await postAll(port, '127.0.0.4', 10 * KiB)).status).toBe(201);
    expect(reached).toEqual([10 * KiB]);
  });

  it('gives the memory back when a client hangs up, or is cut off at the request deadline', async () => {
    const first = await new Upload(port, '127.0.0.2', 100 * KiB).send(60 * KiB);
    const second = await new Upload(port, '127.0.0.2', 100 * KiB).send(60 * KiB);
    expect((await postAll(port, '127.0.0.2', 20 * KiB)).status).toBe(429);

    first.socket.destroy();
    await sleep(100);
    expect((await postAll(port, '127.0.0.2', 20 * KiB)).status).toBe(201);

    // HTTP_REQUEST_TIMEOUT (3 s): the stalled body is answered 408 and its memory freed.
    await new Upload(port, '127.0.0.2', 100 * KiB).send(60 * KiB);
    expect((await second.answer(6_000)).status).toBe(408);
    expect((await postAll(port, '127.0.0.2', 60 * KiB)).status).toBe(201);
  });

  it('gives the memory back once a body has been forwarded and answered', async () => {
    for (let round = 0; round < 20; round += 1) {
      // 20 × 100 KiB from one client, one after another: far past its 128 KiB if kept.
      expect((await postAll(port, '127.0.0.5', 100 * KiB)).status).toBe(201);
    }
    expect(reached).toHaveLength(20);
  });
});

describe('gateway: connections of one client', () => {
  let app: NestExpressApplication;
  let port: number;
  let warned: jest.SpyInstance;

  /** A connection from `from`; resolves once the gateway has accepted or closed it. */
  async function open(from: string): Promise<{ socket: Socket; closed: () => boolean }> {
    const socket = connect({ host: '127.0.0.1', port, localAddress: from });
    let closed = false;
    socket.on('error', () => undefined);
    socket.on('close', () => (closed = true));
    sockets.push(socket);
    await new Promise((resolve) => socket.once('connect', resolve));
    await sleep(100);
    return { socket, closed: () => closed };
  }

  /** Sends a GET on `socket` and resolves with the status line of its answer ('' if none). */
  function ask(socket: Socket): Promise<string> {
    return new Promise((resolve) => {
      let text = '';
      const done = () => resolve(/^HTTP\/1\.1 \d{3}/.exec(text)?.[0] ?? '');
      socket.on('data', (chunk: Buffer) => {
        text += chunk.toString('latin1');
        if (text.includes('\r\n\r\n')) done();
      });
      socket.once('close', done);
      socket.write(`GET /api/nowhere HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n\r\n`);
    });
  }

  const sockets: Socket[] = [];

  beforeAll(async () => {
    app = await startGateway({
      AUTH_URL: 'http://127.0.0.1:9',
      ORDERS_URL: 'http://127.0.0.1:9',
      CATALOG_URL: 'http://127.0.0.1:9',
      CONNECTIONS_PER_CLIENT: '5',
    });
    port = (app.getHttpServer().address() as AddressInfo).port;
  });

  beforeEach(() => {
    warned = jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
  });

  afterEach(() => {
    sockets.splice(0).forEach((socket) => socket.destroy());
    jest.restoreAllMocks();
  });

  afterAll(() => app?.close());

  it('closes the connections of a client past its cap as they arrive, and no one else’s', async () => {
    const held = [];
    for (let i = 0; i < 5; i += 1) held.push(await open('127.0.0.6'));
    const past = await Promise.all([open('127.0.0.6'), open('127.0.0.6')]);
    expect(past.map((connection) => connection.closed())).toEqual([true, true]);
    expect(held.map((connection) => connection.closed())).toEqual([
      false,
      false,
      false,
      false,
      false,
    ]);
    // One warning for both, naming the setting.
    expect(warned).toHaveBeenCalledTimes(1);
    expect(String(warned.mock.calls[0][0])).toContain('CONNECTIONS_PER_CLIENT');

    // The cap is on connections, not requests; other clients are served.
    expect(await ask(held[0].socket)).toBe('HTTP/1.1 404');
    expect(await ask(held[0].socket)).toBe('HTTP/1.1 404');
    expect(await ask((await open('127.0.0.7')).socket)).toBe('HTTP/1.1 404');

    // A connection closed gives its place back.
    held[1].socket.destroy();
    await sleep(100);
    const again = await open('127.0.0.6');
    expect(again.closed()).toBe(false);
    expect(await ask(again.socket)).toBe('HTTP/1.1 404');
  });
});
