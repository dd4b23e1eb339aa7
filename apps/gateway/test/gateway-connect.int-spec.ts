import { Server } from 'node:http';
import { connect, Socket } from 'node:net';

import {
  exchange,
  gatewayBeforeRecorder,
  headFor,
  Heard,
  portOf,
  RecordedGateway,
} from './recording-service';

/**
 * Opens a raw connection to `gateway` and resolves once it is connected; half-open, it stays
 * open for sending when the gateway has ended its side.
 */
function open(gateway: Server): Promise<Socket> {
  return new Promise((resolve) => {
    const options = { host: '127.0.0.1', port: portOf(gateway), allowHalfOpen: true };
    const socket = connect(options, () => resolve(socket));
    socket.on('error', () => undefined);
  });
}

/** Resolves once `socket` has closed, or with `false` after `ms` (a hang detector). */
function closed(socket: Socket, ms: number): Promise<boolean> {
  return new Promise((resolve) => {
    if (socket.destroyed) resolve(true);
    const timer = setTimeout(() => resolve(false), ms);
    socket.once('close', () => {
      clearTimeout(timer);
      resolve(true);
    });
  });
}

describe('gateway, against CONNECT', () => {
  const heard: Heard[] = [];
  let started: RecordedGateway | undefined;
  let gateway: Server;
  let port: number;

  beforeAll(async () => {
    started = await gatewayBeforeRecorder(heard, {});
    gateway = started.gateway;
    port = portOf(gateway);
  });

  afterAll(async () => {
    await started?.close();
  });

  beforeEach(() => (heard.length = 0));

  it('answers a JSON 405 naming the methods it serves and closes, whatever the CONNECT carries', async () => {
    const requests: Record<string, string[]> = {
      'a foreign host': ['CONNECT evil.example:443 HTTP/1.1', 'Host: evil.example:443'],
      'its own host': [`CONNECT localhost:${port} HTTP/1.1`, `Host: localhost:${port}`],
      'an internal service': ['CONNECT 127.0.0.1:6379 HTTP/1.1', 'Host: 127.0.0.1:6379'],
      'no Host, HTTP/1.0': ['CONNECT evil.example:443 HTTP/1.0'],
      'a body': [
        'CONNECT evil.example:443 HTTP/1.1',
        'Host: evil.example:443',
        'Content-Length: 5\r\n\r\nhello',
      ],
      'a request pipelined behind': [
        'CONNECT evil.example:443 HTTP/1.1',
        'Host: evil.example:443',
        `\r\nGET /api/catalog/products HTTP/1.1\r\nHost: localhost:${port}`,
      ],
      'a tunnel opened at once': [
        'CONNECT evil.example:443 HTTP/1.1',
        'Host: evil.example:443',
        '\r\n\u0016\u0003\u0001\u0002\u0000\u0001\u0000\u0001\u00fc\u0003\u0003',
      ],
      'too many header lines': [
        'CONNECT evil.example:443 HTTP/1.1',
        'Host: evil.example:443',
        ...Array.from({ length: 150 }, (_, i) => `X-Line-${i}: ${i}`),
      ],
    };
    const answers = await Promise.all(
      Object.entries(requests).map(async ([what, head]) => ({
        what,
        ...(await exchange(gateway, head)),
      })),
    );
    for (const { what, status, text } of answers) {
      expect({ what, status }).toEqual({ what, status: 405 });
      expect(text).toMatch(/\r\nAllow: GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS\r\n/);
      expect(text).toMatch(/\r\nConnection: close\r\n/i);
      expect(text).toMatch(/\r\ncontent-type: application\/json/i);
      const body = text.slice(text.indexOf('\r\n\r\n') + 4);
      expect(JSON.parse(body)).toEqual({ statusCode: 405, message: 'CONNECT is not served here' });
    }
    expect(heard).toEqual([]);
  });

  it('stays up when clients reset their connection as a CONNECT or a refused upgrade is answered', async () => {
    const heads = [
      ['CONNECT evil.example:443 HTTP/1.1', 'Host: evil.example:443'],
      headFor('/api/nowhere', `localhost:${port}`, true),
      headFor('/api/orders/ws', 'evil.example', true),
    ];
    for (let round = 0; round < 30; round += 1) {
      await Promise.all(
        heads.map(async (head) => {
          const socket = await open(gateway);
          socket.write(`${head.join('\r\n')}\r\n\r\n`);
          socket.resetAndDestroy();
          await closed(socket, 1_000);
        }),
      );
    }
    const after = await exchange(
      gateway,
      headFor('/api/catalog/products', `localhost:${port}`, false),
    );
    expect(after.status).toBe(200);
  });
});

describe('gateway, against clients that hold on after their CONNECT', () => {
  const heard: Heard[] = [];
  let started: RecordedGateway | undefined;

  beforeAll(async () => {
    started = await gatewayBeforeRecorder(heard, { CONNECTIONS_PER_CLIENT: '2' });
  });

  afterAll(async () => {
    await started?.close();
  });

  it('closes their connections though they go on sending, and serves them again', async () => {
    const gateway = started?.gateway as Server;
    const port = portOf(gateway);
    const sockets = await Promise.all([open(gateway), open(gateway)]);
    const answers = sockets.map(
      (socket) =>
        new Promise<string>((resolve) => {
          let text = '';
          socket.on('data', (chunk: Buffer) => (text += chunk.toString('latin1')));
          socket.once('close', () => resolve(text));
        }),
    );
    const feed = setInterval(() => {
      for (const socket of sockets) if (!socket.destroyed) socket.write('tunnel bytes');
    }, 50);
    for (const socket of sockets) {
      socket.write('CONNECT evil.example:443 HTTP/1.1\r\nHost: evil.example:443\r\n\r\n');
    }
    const closedAll = await Promise.all(sockets.map((socket) => closed(socket, 6_000)));
    clearInterval(feed);
    for (const socket of sockets) socket.destroy();
    expect(closedAll).toEqual([true, true]);
    for (const text of await Promise.all(answers)) expect(text).toMatch(/^HTTP\/1\.1 405 /);
    const after = await exchange(
      gateway,
      headFor('/api/catalog/products', `localhost:${port}`, false),
    );
    expect(after.status).toBe(200);
    expect(heard.map(({ url }) => url)).toEqual(['/api/catalog/products']);
  });
});
