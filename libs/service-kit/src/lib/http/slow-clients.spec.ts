import { AddressInfo, connect, Socket } from 'node:net';

import { NestExpressApplication } from '@nestjs/platform-express';
import { Test } from '@nestjs/testing';

import { configureServiceApp } from '../bootstrap/service-app.setup';
import { ServiceConfigModule } from '../config/service-config.module';
import { ServiceEnv } from '../config/service.env';
import { NotesModule } from '../../testing/notes.fixture';
import { limitSlowClients } from './slow-clients';

class MemoEnv extends ServiceEnv {}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

const opened: Socket[] = [];

/** A raw connection that records what it reads and when it is closed. */
class RawClient {
  readonly socket: Socket;
  text = '';
  closedAfterMs?: number;
  private readonly started = Date.now();
  private readonly closed: Promise<void>;

  constructor(port: number) {
    this.socket = connect(port, '127.0.0.1');
    opened.push(this.socket);
    this.socket.on('data', (chunk: Buffer) => (this.text += chunk.toString('latin1')));
    this.socket.on('error', () => undefined);
    this.closed = new Promise((resolve) =>
      this.socket.on('close', () => {
        this.closedAfterMs = Date.now() - this.started;
        resolve();
      }),
    );
  }

  /** Writes `text` a byte at a time, one every `everyMs`, for as long as the connection is open. */
  trickle(text: string, everyMs: number): void {
    let next = 0;
    const timer = setInterval(() => {
      if (this.socket.destroyed || next >= text.length) {
        clearInterval(timer);
        return;
      }
      this.socket.write(text[next++]);
    }, everyMs);
    this.socket.on('close', () => clearInterval(timer));
  }

  /** Waits for the server to close the connection, at most `ms`. */
  async closedWithin(ms: number): Promise<boolean> {
    await Promise.race([this.closed, sleep(ms)]);
    return this.closedAfterMs !== undefined;
  }

  /** Waits until the text read holds `count` answers' status lines, at most `ms`. */
  async answers(count: number, ms: number): Promise<string[]> {
    const deadline = Date.now() + ms;
    while (Date.now() < deadline && statusLines(this.text).length < count) {
      await sleep(20);
    }
    return statusLines(this.text);
  }
}

/** Status lines; an answer's head follows the previous answer's body on the same line. */
const statusLines = (text: string) => text.match(/HTTP\/1\.1 \d{3}(?= )/g) ?? [];

const TIMED_OUT = {
  status: 'HTTP/1.1 408',
  body: JSON.stringify({ statusCode: 408, message: 'Request Timeout' }),
};

describe('limitSlowClients (HTTP_HEADERS_TIMEOUT 0.5 s, HTTP_REQUEST_TIMEOUT 1 s)', () => {
  let app: NestExpressApplication;
  let port: number;

  beforeAll(async () => {
    const moduleRef = await Test.createTestingModule({
      imports: [
        ServiceConfigModule.forRoot(MemoEnv, {
          HTTP_HEADERS_TIMEOUT: '0.5',
          HTTP_REQUEST_TIMEOUT: '1',
        }),
        NotesModule,
      ],
    }).compile();
    app = moduleRef.createNestApplication<NestExpressApplication>({ logger: false });
    configureServiceApp(app, { name: 'memo' });
    await app.listen(0, '127.0.0.1');
    port = (app.getHttpServer().address() as AddressInfo).port;
  });

  afterEach(() => opened.splice(0).forEach((socket) => socket.destroy()));

  afterAll(() => app.close());

  // Node's own deadlines are 60 s for headers and 300 s for a request, checked every 30 s: any
  // connection below closed within a few seconds was closed by the service's settings.

  it('closes a connection that sends nothing, with a JSON 408', async () => {
    const client = new RawClient(port);
    expect(await client.closedWithin(4_000)).toBe(true);
    expect(client.text).toMatch(/^HTTP\/1\.1 408 /);
    expect(client.text).toContain(TIMED_OUT.body);
  });

  it('closes a connection whose headers come a byte at a time past the deadline', async () => {
    const client = new RawClient(port);
    client.trickle(`GET /api/memo/notes/slow HTTP/1.1\r\nHost: x\r\nX-Pad: ${'a'.repeat(500)}`, 50);
    expect(await client.closedWithin(4_000)).toBe(true);
    expect(client.text.startsWith(TIMED_OUT.status)).toBe(true);
  });

  it('closes a connection whose body comes a byte at a time past the deadline, and serves on', async () => {
    const client = new RawClient(port);
    const body = JSON.stringify({ text: 'x'.repeat(400) });
    client.socket.write(
      'POST /api/memo/notes HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n' +
        `Content-Length: ${body.length}\r\n\r\n`,
    );
    client.trickle(body, 20);
    expect(await client.closedWithin(4_000)).toBe(true);
    expect(client.text.startsWith(TIMED_OUT.status)).toBe(true);
    expect(client.text).toContain(TIMED_OUT.body);

    const next = new RawClient(port);
    next.socket.write(
      'POST /api/memo/notes HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n' +
        'Content-Length: 12\r\nConnection: close\r\n\r\n{"text":"a"}',
    );
    expect(await next.answers(1, 2_000)).toEqual(['HTTP/1.1 201']);
  });

  it('serves a slow client that finishes within the deadlines, and an answer that takes longer', async () => {
    const client = new RawClient(port);
    // Headers over ~0.3 s, the body over another ~0.3 s: within 0.5 s and 1 s.
    const body = '{"text":"hi"}';
    const head =
      'POST /api/memo/notes HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n' +
      `Content-Length: ${body.length}\r\n\r\n`;
    for (const part of [head.slice(0, 30), head.slice(30, 60), head.slice(60)]) {
      client.socket.write(part);
      await sleep(100);
    }
    for (const part of [body.slice(0, 5), body.slice(5)]) {
      await sleep(150);
      client.socket.write(part);
    }
    expect(await client.answers(1, 2_000)).toEqual(['HTTP/1.1 201']);
    expect(client.text).toContain('{"text":"hi"}');

    // The deadlines end with the request's last byte: a 1.5 s answer goes out whole.
    client.socket.write('GET /api/memo/notes/slow HTTP/1.1\r\nHost: x\r\n\r\n');
    expect(await client.answers(2, 4_000)).toEqual(['HTTP/1.1 201', 'HTTP/1.1 200']);
    expect(client.text).toContain('{"ok":true}');
  });

  it('leaves a connection upgraded from HTTP open past the deadlines', async () => {
    const server = app.getHttpServer();
    const upgraded = (_request: unknown, socket: Socket) => {
      socket.write(
        'HTTP/1.1 101 Switching Protocols\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\n',
      );
      socket.on('data', (chunk) => socket.write(chunk));
      socket.on('end', () => socket.end());
    };
    server.on('upgrade', upgraded);
    try {
      const client = new RawClient(port);
      client.socket.write(
        'GET /echo HTTP/1.1\r\nHost: x\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\n',
      );
      expect(await client.answers(1, 2_000)).toEqual(['HTTP/1.1 101']);
      expect(await client.closedWithin(2_500)).toBe(false);
      client.socket.write('still here');
      await sleep(200);
      expect(client.text).toContain('still here');
      client.socket.destroy();
    } finally {
      server.off('upgrade', upgraded);
    }
  });

  it('must be set before the server listens', () => {
    expect(() => limitSlowClients(app.getHttpServer(), { headers: 1, request: 1 })).toThrow(
      'before the server listens',
    );
  });
});
