import { Agent, request as httpRequest } from 'node:http';
import { connect } from 'node:net';

import { Catch, Logger } from '@nestjs/common';
import { NestExpressApplication } from '@nestjs/platform-express';
import { Test } from '@nestjs/testing';
import request from 'supertest';

import { JSON_MAX_VALUES } from '../http/body-limits';
import { HttpErrorFilter } from '../http/http-error.filter';
import { CLIENT_ERROR_LINGER_MS } from '../http/client-errors';
import { NotesModule } from '../../testing/notes.fixture';
import { configureServiceApp } from './service-app.setup';

@Catch()
class TeapotFilter extends HttpErrorFilter {
  protected override toBody() {
    return { statusCode: 418, message: 'teapot' };
  }
}

async function appWith(service: Parameters<typeof configureServiceApp>[1]) {
  const moduleRef = await Test.createTestingModule({ imports: [NotesModule] }).compile();
  const app = moduleRef.createNestApplication<NestExpressApplication>({ logger: false });
  await configureServiceApp(app, service).init();
  return app;
}

describe('configureServiceApp', () => {
  it('serves under /api/<name>, refuses unknown fields and answers errors as { statusCode, message }', async () => {
    const app = await appWith({ name: 'memo' });
    const http = app.getHttpServer();

    await request(http).post('/api/memo/notes').send({ text: 'hi' }).expect(201, { text: 'hi' });
    const refused = await request(http).post('/api/memo/notes').send({ text: 'hi', admin: true });
    expect(refused.status).toBe(400);
    expect(refused.body).toEqual({ statusCode: 400, message: 'property admin should not exist' });
    await request(http).post('/api/notes').send({ text: 'hi' }).expect(404);
    await request(http).post('/notes').send({ text: 'hi' }).expect(404);
    await app.close();
  });

  describe('bad input', () => {
    let app: NestExpressApplication;
    let logged: jest.SpyInstance;

    beforeAll(async () => {
      app = await appWith({ name: 'memo' });
    });

    beforeEach(() => {
      logged = jest.spyOn(Logger.prototype, 'error').mockImplementation(() => undefined);
    });

    afterEach(() => {
      expect(logged).not.toHaveBeenCalled();
      jest.restoreAllMocks();
    });

    afterAll(() => app.close());

    const post = (body: string | Buffer, type = 'application/json') =>
      request(app.getHttpServer()).post('/api/memo/notes').set('Content-Type', type).send(body);

    it('answers 400 to JSON nested thousands deep, before parsing or validation', async () => {
      for (const open of ['[', '{"text":']) {
        const close = open === '[' ? ']' : '}';
        const response = await post(`${open.repeat(2_500)}1${close.repeat(2_500)}`);
        expect(response.status).toBe(400);
        expect(response.body).toEqual({ statusCode: 400, message: 'JSON body nested too deep' });
      }
      await post('{"text":"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["}').expect(201);
    });

    it('answers 400 to a JSON body of more values than any body needs, before validation copies them', async () => {
      // Each one an object class-transformer would copy before the whitelist refused the field.
      for (const field of ['text', 'unknown']) {
        const response = await post(
          `{"${field}":[${Array(JSON_MAX_VALUES).fill('{}').join(',')}]}`,
        );
        expect(response.status).toBe(400);
        expect(response.body).toEqual({
          statusCode: 400,
          message: 'JSON body holds too many values',
        });
      }
      // At the cap the body is parsed, and validation has its say.
      const atCap = await post(
        `{"text":[${Array(JSON_MAX_VALUES - 2)
          .fill('0')
          .join(',')}]}`,
      );
      expect(atCap.status).toBe(400);
      expect(atCap.body.message).toBe('text must be a string');
    });

    it('answers malformed JSON with a fixed message that does not echo the input', async () => {
      const response = await post('{"text": secret-token-value');
      expect(response.status).toBe(400);
      expect(response.body).toEqual({ statusCode: 400, message: 'Malformed JSON body' });
      expect(response.text).not.toContain('secret');
    });

    it('answers 413 beyond the body limit and 415 to JSON that is not UTF-8', async () => {
      const big = JSON.stringify({ text: 'x'.repeat(200 * 1024) });
      await post(big).expect(413, { statusCode: 413, message: 'Request body too large' });
      const utf16 = Buffer.from('{"text":"hi"}', 'utf16le');
      await post(utf16, 'application/json; charset=utf-16le').expect(415);
    });

    it('answers a path no route serves with a fixed 404 that does not echo the URL', async () => {
      const http = app.getHttpServer();
      for (const path of [
        '/api/memo/nowhere?access_token=cr1.AAAAAAAA.secret-in-the-query',
        '/api/memo/notes/cr1.AAAAAAAA.secret-in-the-path',
        '/elsewhere/secret-outside-the-prefix',
      ]) {
        for (const method of ['get', 'post', 'delete'] as const) {
          const response = await request(http)[method](path);
          expect({ method, path, status: response.status, body: response.body }).toEqual({
            method,
            path,
            status: 404,
            body: { statusCode: 404, message: 'Not Found' },
          });
          expect(response.text).not.toContain('secret');
        }
      }
    });

    it('answers 400 to wrong types and nested forms', async () => {
      await post('{"text":["a"]}').expect(400);
      await post('[]').expect(400);
      await post('"text"').expect(400);
      await post('text[a][b][c]=1', 'application/x-www-form-urlencoded').expect(400);
    });
  });

  it("never reads the body of a service's bodiless routes, whatever comes", async () => {
    const app = await appWith({ name: 'memo', bodilessRoutes: ['/notes/clear'] });
    const http = app.getHttpServer();
    const bodies: [string, string][] = [
      ['{"text": broken', 'application/json'],
      ['{"text":"x"}', 'application/json; charset=utf-16le'],
      [JSON.stringify({ text: 'x'.repeat(300 * 1024) }), 'application/json'],
      ['a[b][c]=1', 'application/x-www-form-urlencoded'],
    ];
    // Express routes ignore case and a trailing slash: so does the list.
    for (const path of ['/api/memo/notes/clear', '/API/Memo/Notes/Clear/']) {
      for (const [body, type] of bodies) {
        await request(http)
          .post(path)
          .set('Content-Type', type)
          .send(body)
          .expect(201, { body: null });
      }
    }
    // Every other route still parses, and refuses, what it gets.
    await request(http)
      .post('/api/memo/notes')
      .set('Content-Type', 'application/json')
      .send('{"text": broken')
      .expect(400, { statusCode: 400, message: 'Malformed JSON body' });
    await request(http).post('/api/memo/notes').send({ text: 'hi' }).expect(201, { text: 'hi' });
    await app.close();
  });

  it('sends nosniff, a Referrer-Policy and no-store on every answer, and no X-Powered-By', async () => {
    const app = await appWith({ name: 'memo' });
    for (const path of ['/api/memo/notes/broken', '/api/memo/nowhere', '/elsewhere']) {
      const response = await request(app.getHttpServer()).get(path);
      expect(response.headers['x-content-type-options']).toBe('nosniff');
      expect(response.headers['referrer-policy']).toBe('no-referrer');
      expect(response.headers['cache-control']).toBe('no-store');
      expect(response.headers['x-powered-by']).toBeUndefined();
      expect(response.headers['strict-transport-security']).toBeUndefined();
    }
    await app.close();
  });

  it('sends no ETag: answers are no-store, and an ETag is a hash of a body that may hold a token', async () => {
    const app = await appWith({ name: 'memo' });
    const http = app.getHttpServer();
    const answers = [
      await request(http).post('/api/memo/notes').send({ text: 'a bearer token, say' }),
      await request(http).get('/api/memo/nowhere'),
    ];
    for (const response of answers) {
      expect(response.headers['etag']).toBeUndefined();
    }
    await app.close();
  });

  it("uses the service's own error filter and runs its own configure step", async () => {
    const configured: string[] = [];
    const app = await appWith({
      name: 'memo',
      errorFilter: TeapotFilter,
      configure: () => configured.push('memo'),
    });
    await request(app.getHttpServer()).get('/api/memo/notes/broken').expect(418);
    expect(configured).toEqual(['memo']);
    await app.close();
  });
  describe("what Node's HTTP parser refuses", () => {
    let app: NestExpressApplication;
    let port: number;

    beforeAll(async () => {
      app = await appWith({ name: 'memo', bodilessRoutes: ['/notes/clear'] });
      await app.listen(0, '127.0.0.1');
      port = (app.getHttpServer().address() as { port: number }).port;
    });

    afterAll(() => app.close());

    /** Sends raw bytes and reads everything until the server closes the connection. */
    const raw = (payload: string) =>
      new Promise<string>((resolve, reject) => {
        let received = '';
        const socket = connect(port, '127.0.0.1', () => socket.write(payload));
        socket.setEncoding('utf8');
        socket.on('data', (chunk: string) => (received += chunk));
        socket.on('close', () => resolve(received));
        socket.on('error', reject);
      });

    const answerOf = (text: string) => {
      const [head, body] = text.split('\r\n\r\n');
      const [statusLine, ...headers] = head.split('\r\n');
      return {
        status: Number(statusLine.split(' ')[1]),
        headers: Object.fromEntries(
          headers.map((line) => [
            line.slice(0, line.indexOf(':')).toLowerCase(),
            line.slice(line.indexOf(':') + 1).trim(),
          ]),
        ),
        body: JSON.parse(body),
      };
    };

    it.each([
      [
        'a header name with a space',
        'GET /api/memo/notes HTTP/1.1\r\nHost: x\r\nBad Header: 1\r\n\r\n',
        400,
      ],
      [
        'a header of 20 kB',
        `GET /api/memo/notes HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`,
        431,
      ],
      [
        'a bad Content-Length',
        'POST /api/memo/notes HTTP/1.1\r\nHost: x\r\nContent-Length: 1x\r\n\r\n',
        400,
      ],
      ['a request line that is not HTTP', 'HELLO THERE\r\n\r\n', 400],
      // Parsed, but refused by Node itself before any listener, with a bare status.
      [
        'an Expect other than 100-continue',
        'POST /api/memo/notes HTTP/1.1\r\nHost: x\r\nExpect: foo\r\n' +
          'Content-Type: application/json\r\nContent-Length: 13\r\n\r\n{"text":"hi"}',
        417,
      ],
      ['an HTTP/1.1 request without Host', 'GET /api/memo/notes/broken HTTP/1.1\r\n\r\n', 400],
      [
        'a request without Host and with an Expect other than 100-continue',
        'GET /api/memo/notes/broken HTTP/1.1\r\nExpect: foo\r\n\r\n',
        400,
      ],
      [
        // Node checks Host first: no 100 Continue for a request it refuses.
        'a request without Host that expects 100-continue',
        'POST /api/memo/notes HTTP/1.1\r\nExpect: 100-continue\r\n' +
          'Content-Type: application/json\r\nContent-Length: 13\r\n\r\n',
        400,
      ],
    ])('answers %s as JSON with nosniff, and closes', async (_what, payload, status) => {
      const text = await raw(payload);
      // One answer: the refused request reached no route (which would answer 201 or 500).
      expect(text.match(/HTTP\/1\.1 \d{3} /g)).toHaveLength(1);
      const answer = answerOf(text);
      expect(answer.status).toBe(status);
      expect(answer.body).toEqual({ statusCode: status, message: expect.any(String) });
      expect(answer.headers).toMatchObject({
        'content-type': 'application/json; charset=utf-8',
        'x-content-type-options': 'nosniff',
        'cache-control': 'no-store',
        connection: 'close',
      });
    });

    it('answers a HEAD request without Host the same, without a body', async () => {
      const [head, body] = (await raw('HEAD /api/memo/notes HTTP/1.1\r\n\r\n')).split('\r\n\r\n');
      expect(head).toMatch(/^HTTP\/1\.1 400 /);
      expect(head).toContain('X-Content-Type-Options: nosniff');
      expect(head).toContain('Connection: close');
      expect(body).toBe('');
    });

    it('lets through what Node lets through: Expect: 100-continue, and HTTP/1.0 without Host', async () => {
      const continued = await new Promise<string>((resolve, reject) => {
        let received = '';
        const socket = connect(port, '127.0.0.1', () =>
          socket.write(
            'POST /api/memo/notes HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n' +
              'Content-Type: application/json\r\nContent-Length: 13\r\nConnection: close\r\n\r\n',
          ),
        );
        socket.setEncoding('utf8');
        socket.on('data', (chunk: string) => {
          // The body goes only once the server asked for it.
          if (!received && chunk.startsWith('HTTP/1.1 100 Continue\r\n')) {
            socket.write('{"text":"hi"}');
          }
          received += chunk;
        });
        socket.on('close', () => resolve(received));
        socket.on('error', reject);
      });
      expect(continued).toMatch(/^HTTP\/1\.1 100 Continue\r\n\r\nHTTP\/1\.1 201 /);
      expect(continued).toMatch(/\r\n\r\n\{"text":"hi"\}$/);

      const old = await raw('GET /api/memo/notes/broken HTTP/1.0\r\n\r\n');
      expect(answerOf(old).status).toBe(500);
    });

    it('answers a HEAD request the same, without a body, as Node clients expect', async () => {
      const port = (app.getHttpServer().address() as { port: number }).port;
      const answer = await new Promise<{ status?: number; type?: string; body: string }>(
        (resolve, reject) => {
          const outgoing = httpRequest(
            { host: '127.0.0.1', port, method: 'HEAD', path: '/api/memo/notes/\u00e9' },
            (response) => {
              let body = '';
              response.on('data', (chunk: Buffer) => (body += chunk));
              response.on('end', () =>
                resolve({
                  status: response.statusCode,
                  type: response.headers['content-type'],
                  body,
                }),
              );
            },
          );
          outgoing.on('error', reject);
          outgoing.end();
        },
      );
      expect(answer).toEqual({ status: 400, type: 'application/json; charset=utf-8', body: '' });
    });

    // The refused packet holds no request line, so the method is not known. With a length and
    // no body, a client other than HEAD's reads a cut answer ("aborted"); with a body, a HEAD
    // client reads garbage. Without either, the answer ends where the connection does.
    it.each(['HEAD', 'POST'])(
      'answers a %s request refused in its second packet with neither body nor length',
      async (method) => {
        const text = await new Promise<string>((resolve, reject) => {
          let received = '';
          const socket = connect(port, '127.0.0.1', () => {
            socket.write(`${method} /api/memo/notes HTTP/1.1\r\nHost: x\r\n`);
            setTimeout(() => socket.write('Bad Header: 1\r\n\r\n'), 100);
          });
          socket.setEncoding('utf8');
          socket.on('data', (chunk: string) => (received += chunk));
          socket.on('close', () => resolve(received));
          socket.on('error', reject);
        });
        const [head, body] = text.split('\r\n\r\n');
        expect(head).toMatch(/^HTTP\/1\.1 400 /);
        expect(head).toContain('Connection: close');
        expect(head).not.toContain('Content-Length');
        expect(body).toBe('');
      },
    );

    it('answers in full a request refused in a packet that starts with the end of an earlier body', async () => {
      // A kept-alive connection whose earlier request was answered before its whole body came
      // (a route that reads none): the body's end and the next, malformed, request arrive in
      // one packet. A client on a loaded machine sees it: the answer was cut ("aborted").
      const text = await new Promise<string>((resolve, reject) => {
        let received = '';
        const socket = connect(port, '127.0.0.1', () =>
          socket.write(
            'POST /api/memo/notes/clear HTTP/1.1\r\nHost: x\r\n' +
              'Content-Type: application/json\r\nContent-Length: 20\r\n\r\n{"text":',
          ),
        );
        socket.setEncoding('latin1');
        socket.on('data', (chunk: string) => {
          received += chunk;
          // The first answer is out: the rest of its body, then a request Node's parser refuses.
          if (/^HTTP\/1\.1 201 [^]*\{"body":null\}$/.test(received)) {
            socket.write(
              '"not read!"}GET /api/memo/notes/\u00e9 HTTP/1.1\r\nHost: x\r\n\r\n',
              'latin1',
            );
          }
        });
        socket.on('close', () => resolve(received));
        socket.on('error', reject);
      });
      const second = text.slice(text.indexOf('HTTP/1.1 400 '));
      const [head, body] = second.split('\r\n\r\n');
      expect(head).toMatch(/^HTTP\/1\.1 400 /);
      expect(head).toContain(`Content-Length: ${Buffer.byteLength(body)}`);
      expect(JSON.parse(body)).toEqual({ statusCode: 400, message: 'Bad Request' });
    });

    it('answers a 20 kB header on a kept-alive connection that carried earlier answers', async () => {
      // A browser or an agent reuses its connection: the earlier, finished answers must not
      // keep this one from being written (the connection was dropped: "socket hang up").
      const agent = new Agent({ keepAlive: true, maxSockets: 1 });
      const send = (headers: Record<string, string>, body: string) =>
        new Promise<{ status?: number; body: string; reused: boolean }>((resolve, reject) => {
          const outgoing = httpRequest(
            {
              host: '127.0.0.1',
              port,
              agent,
              method: 'POST',
              path: '/api/memo/notes',
              headers: {
                'content-type': 'application/json',
                'content-length': String(Buffer.byteLength(body)),
                ...headers,
              },
            },
            (response) => {
              let text = '';
              response.on('data', (chunk: Buffer) => (text += chunk));
              response.on('end', () =>
                resolve({ status: response.statusCode, body: text, reused: outgoing.reusedSocket }),
              );
            },
          );
          outgoing.on('error', reject);
          outgoing.end(body);
        });
      try {
        const note = JSON.stringify({ text: 'kept' });
        expect(await send({}, note)).toMatchObject({ status: 201, reused: false });
        expect(await send({}, note)).toMatchObject({ status: 201, reused: true });
        const refused = await send({ cookie: `big=${'a'.repeat(20_000)}` }, 'x'.repeat(300_000));
        expect(refused.reused).toBe(true);
        expect(refused.status).toBe(431);
        expect(JSON.parse(refused.body)).toEqual({
          statusCode: 431,
          message: 'Request Header Fields Too Large',
        });
      } finally {
        agent.destroy();
      }
    });

    it('drops a connection that goes on sending after the answer, once a grace period is over', async () => {
      // Half-open: the client goes on writing after the server's end of the connection closed.
      const socket = connect({ port, host: '127.0.0.1', allowHalfOpen: true });
      let received = '';
      socket.setEncoding('utf8');
      socket.on('data', (chunk: string) => (received += chunk));
      socket.on('error', () => undefined);
      socket.write(
        `POST /api/memo/notes HTTP/1.1\r\nHost: x\r\nContent-Length: 100000000\r\n` +
          `X-Big: ${'a'.repeat(20_000)}\r\n\r\n`,
      );
      const feeding = setInterval(() => socket.write('x'.repeat(1024)), 20);
      const closedAfter = await new Promise<number>((resolve) => {
        const start = Date.now();
        socket.on('close', () => resolve(Date.now() - start));
      }).finally(() => clearInterval(feeding));
      expect(received).toMatch(/^HTTP\/1\.1 431 /);
      expect(closedAfter).toBeGreaterThanOrEqual(CLIENT_ERROR_LINGER_MS - 100);
    });

    /** Sends `first`, then a malformed request as soon as the first answer starts. */
    const pipelined = (first: string) =>
      new Promise<string>((resolve, reject) => {
        let received = '';
        const socket = connect(port, '127.0.0.1', () => socket.write(first));
        socket.setEncoding('utf8');
        socket.once('data', () => socket.write('GET / HTTP/1.1\r\nBad Header: 1\r\n\r\n'));
        socket.on('data', (chunk: string) => (received += chunk));
        socket.on('close', () => resolve(received));
        socket.on('error', reject);
      });

    it('writes nothing into an answer under way, and drops its connection', async () => {
      // The head of the streamed answer is out when the malformed request comes.
      const text = await pipelined('GET /api/memo/notes/streamed HTTP/1.1\r\nHost: x\r\n\r\n');
      expect(text.match(/HTTP\/1\.1 \d{3} /g)).toEqual(['HTTP/1.1 200 ']);
      expect(text).not.toContain('statusCode');
    });

    it('answers a malformed request behind a complete answer, as Node does', async () => {
      const text = await pipelined('GET /api/memo/notes/broken HTTP/1.1\r\nHost: x\r\n\r\n');
      expect(text.match(/HTTP\/1\.1 \d{3} /g)).toEqual(['HTTP/1.1 500 ', 'HTTP/1.1 400 ']);
    });
  });
});
