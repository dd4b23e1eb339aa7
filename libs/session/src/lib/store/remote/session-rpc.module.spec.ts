import { EventEmitter } from 'node:events';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { connect, Server, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as connectTls, TLSSocket } from 'node:tls';

import { Logger } from '@nestjs/common';
import { MessageHandler, ServerTCP, TcpContext, TcpSocket } from '@nestjs/microservices';

import { DevCertificates, makeDevCertificates } from '../../../testing/dev-certificates';
import {
  SessionRpcServer,
  SessionRpcServerOptions,
  sessionRpcTransport,
} from './session-rpc.module';

/** A connection as the server sees it: only whether its reading is paused matters here. */
function fakeConnection() {
  const netSocket = { pause: jest.fn(), resume: jest.fn(), destroy: jest.fn() };
  return { socket: { netSocket } as unknown as TcpSocket, netSocket };
}

/** A verified TLS connection of a caller, as `bindHandler` receives it. */
function fakeTlsConnection(caller: string) {
  const socket = Object.assign(Object.create(TLSSocket.prototype), new EventEmitter(), {
    authorized: true,
    destroy: jest.fn(),
    setTimeout: jest.fn(),
    disableRenegotiation: jest.fn(),
    // Valid for a day: the server closes a connection when its certificate expires.
    getPeerCertificate: () => ({
      subject: { CN: caller },
      valid_to: new Date(Date.now() + 86_400_000).toUTCString(),
    }),
  });
  return socket as Socket & { destroy: jest.Mock };
}

describe('SessionRpcServer', () => {
  afterEach(() => jest.restoreAllMocks());

  it('stops reading a connection at maxInFlight unanswered requests, and reads on after an answer', async () => {
    const answers: Array<() => void> = [];
    jest
      .spyOn(ServerTCP.prototype, 'handleMessage')
      .mockImplementation(() => new Promise<void>((resolve) => answers.push(resolve)));
    const server = new SessionRpcServer(
      { maxInFlight: 3, maxConnectionsPerCaller: 8 },
      { port: 0 },
    );
    const { socket, netSocket } = fakeConnection();
    const other = fakeConnection();

    const handled = [1, 2].map(() => server.handleMessage(socket, 'frame'));
    expect(netSocket.pause).not.toHaveBeenCalled();
    handled.push(server.handleMessage(socket, 'frame'));
    expect(netSocket.pause).toHaveBeenCalledTimes(1);
    // Counted per connection: another caller is read as before.
    void server.handleMessage(other.socket, 'frame');
    expect(other.netSocket.pause).not.toHaveBeenCalled();

    answers[0]();
    await handled[0];
    expect(netSocket.resume).toHaveBeenCalledTimes(1);
    answers[1]();
    await handled[1];
    // Below the limit already: nothing to resume twice.
    expect(netSocket.resume).toHaveBeenCalledTimes(1);
    handled.push(server.handleMessage(socket, 'frame'), server.handleMessage(socket, 'frame'));
    expect(netSocket.pause).toHaveBeenCalledTimes(2);
  });

  it('keeps a connection unread when it is resumed while its answers wait for the caller to read them, or at maxInFlight', async () => {
    const answers: Array<() => void> = [];
    jest
      .spyOn(ServerTCP.prototype, 'handleMessage')
      .mockImplementation(() => new Promise<void>((resolve) => answers.push(resolve)));
    const server = new SessionRpcServer(
      { maxInFlight: 1, maxConnectionsPerCaller: 8 },
      { port: 0 },
    );
    const socket = Object.assign(fakeTlsConnection('catalog'), {
      pause: jest.fn(),
      resume: jest.fn(),
    });
    // Nest's JSON socket; `isBackpressured` is Nest's own hold: answers the caller has not read.
    const connection = { on: jest.fn(), netSocket: socket, isBackpressured: false };
    jest
      .spyOn(
        server as unknown as { getSocketInstance(socket: Socket): unknown },
        'getSocketInstance',
      )
      .mockReturnValue(connection);
    server.bindHandler(socket);

    socket.emit('resume');
    expect(socket.pause).not.toHaveBeenCalled();
    // Another request's answer resumes it while Nest still holds it: it stays unread, or what
    // the caller sends meanwhile piles up in Nest's buffer, unparsed, until the frame limit.
    connection.isBackpressured = true;
    socket.emit('resume');
    expect(socket.pause).toHaveBeenCalledTimes(1);
    connection.isBackpressured = false;
    const handled = server.handleMessage(connection as unknown as TcpSocket, 'frame');
    expect(socket.pause).toHaveBeenCalledTimes(2);
    // Nest's drain resumes it while the request is still unanswered.
    socket.emit('resume');
    expect(socket.pause).toHaveBeenCalledTimes(3);
    answers[0]();
    await handled;
    expect(socket.resume).toHaveBeenCalledTimes(1);
    socket.emit('resume');
    expect(socket.pause).toHaveBeenCalledTimes(3);
  });

  it("starts at most maxInFlightPerCaller of one caller's requests across its connections, the others as those are answered", async () => {
    const started: string[] = [];
    /** The requests started and not answered yet, by id. */
    const open = new Map<string, () => void>();
    jest.spyOn(ServerTCP.prototype, 'handleMessage').mockImplementation((_socket, message) => {
      const { id } = message as { id: string };
      started.push(id);
      return new Promise<void>((resolve) =>
        open.set(id, () => {
          open.delete(id);
          resolve();
        }),
      );
    });
    const server = new SessionRpcServer(
      { maxInFlight: 2, maxInFlightPerCaller: 3, maxConnectionsPerCaller: 8 },
      { port: 0 },
    );
    const bind = (caller: string) => {
      const socket = Object.assign(fakeTlsConnection(caller), {
        pause: jest.fn(),
        resume: jest.fn(),
      });
      const connection = Object.assign(new EventEmitter(), { netSocket: socket });
      jest
        .spyOn(
          server as unknown as { getSocketInstance(socket: Socket): unknown },
          'getSocketInstance',
        )
        .mockReturnValueOnce(connection);
      server.bindHandler(socket);
      return { connection, socket };
    };
    const send = (connection: EventEmitter, ...ids: string[]) =>
      ids.forEach((id) => connection.emit('message', { pattern: 'session.validate', id }));
    const settle = () => new Promise((resolve) => setImmediate(resolve));

    // Three connections of one caller, three frames each: two start on the first (its
    // maxInFlight), one on the second, none on the third, and all three stay unread.
    const flood = ['a', 'b', 'c'].map(() => bind('orders'));
    flood.forEach(({ connection }, n) => send(connection, `${n}.1`, `${n}.2`, `${n}.3`));
    expect(started).toEqual(['0.1', '0.2', '1.1']);
    flood.forEach(({ socket }) => expect(socket.pause).toHaveBeenCalled());
    // Another caller is served meanwhile, and keeps being read.
    const other = bind('catalog');
    send(other.connection, 'x.1');
    expect(started).toEqual(['0.1', '0.2', '1.1', 'x.1']);
    expect(other.socket.pause).not.toHaveBeenCalled();

    // Each answer of the caller starts one more of its frames, its own connection's first.
    open.get('0.1')?.();
    await settle();
    expect(started.slice(4)).toEqual(['0.3']);
    open.get('1.1')?.();
    await settle();
    expect(started.slice(5)).toEqual(['1.2']);
    while (open.size > 0) {
      const [first] = open.keys();
      open.get(first)?.();
      await settle();
      expect([...open.keys()].filter((id) => !id.startsWith('x')).length).toBeLessThanOrEqual(3);
    }
    expect([...started].sort()).toEqual(
      ['0.1', '0.2', '0.3', '1.1', '1.2', '1.3', '2.1', '2.2', '2.3', 'x.1'].sort(),
    );
    // Once nothing waits on them, every connection is read again.
    flood.forEach(({ socket }) => expect(socket.resume).toHaveBeenCalled());
  });

  it('counts a request that failed as answered', async () => {
    jest.spyOn(ServerTCP.prototype, 'handleMessage').mockRejectedValue(new Error('bad frame'));
    const server = new SessionRpcServer(
      { maxInFlight: 1, maxConnectionsPerCaller: 8 },
      { port: 0 },
    );
    const { socket, netSocket } = fakeConnection();
    await expect(server.handleMessage(socket, 'frame')).rejects.toThrow('bad frame');
    expect(netSocket.pause).toHaveBeenCalledTimes(1);
    expect(netSocket.resume).toHaveBeenCalledTimes(1);
  });

  it('drops a connection that sends an event: the RPC serves none', async () => {
    const server = new SessionRpcServer(
      { maxInFlight: 3, maxConnectionsPerCaller: 8 },
      { port: 0 },
    );
    const { socket, netSocket } = fakeConnection();
    await server.handleEvent(
      'anything',
      { pattern: 'anything', data: null },
      new TcpContext([socket, 'anything']),
    );
    expect(netSocket.destroy).toHaveBeenCalled();
  });

  it('holds at most maxConnectionsPerCaller connections of one caller, and takes one again after a close', () => {
    const server = new SessionRpcServer(
      { maxInFlight: 3, maxConnectionsPerCaller: 2 },
      { port: 0 },
    );
    const bound = jest
      .spyOn(
        server as unknown as { getSocketInstance(socket: Socket): unknown },
        'getSocketInstance',
      )
      .mockImplementation(() => ({ on: jest.fn() }));
    const [first, second, third] = [1, 2, 3].map(() => fakeTlsConnection('catalog'));
    const orders = fakeTlsConnection('orders');
    for (const socket of [first, second, third, orders]) server.bindHandler(socket);
    expect(bound.mock.calls.map(([socket]) => socket)).toEqual([first, second, orders]);
    expect(third.destroy).toHaveBeenCalled();
    expect(first.destroy).not.toHaveBeenCalled();

    first.emit('close');
    const fourth = fakeTlsConnection('catalog');
    server.bindHandler(fourth);
    expect(fourth.destroy).not.toHaveBeenCalled();
    expect(bound).toHaveBeenLastCalledWith(fourth);
  });
});

describe('SessionRpcServer on a real TLS socket', () => {
  let dir: string;
  let certificates: DevCertificates;
  let server: SessionRpcServer | undefined;
  let port: number;
  const sockets: Socket[] = [];

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'rpc-limits-'));
    certificates = makeDevCertificates(dir, ['catalog']);
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  afterEach(() => {
    jest.restoreAllMocks();
    sockets.splice(0).forEach((socket) => socket.destroy());
    server?.close();
    server = undefined;
  });

  const listen = async (options: Partial<SessionRpcServerOptions>) => {
    server = sessionRpcTransport({
      host: '127.0.0.1',
      port: 0,
      // Far past the tests' timeouts: only the limit under test closes a connection in time.
      handshakeTimeout: 60_000,
      tls: {
        ca: readFileSync(certificates.ca),
        cert: readFileSync(certificates.server.cert),
        key: readFileSync(certificates.server.key),
      },
      ...options,
    }).strategy as SessionRpcServer;
    await new Promise<void>((resolve, reject) =>
      server?.listen((error?: unknown) => (error ? reject(error) : resolve())),
    );
    port = ((server as unknown as { server: Server }).server.address() as { port: number }).port;
  };

  /** A raw TCP connection from `localAddress` that sends nothing. */
  const silent = (localAddress: string) => {
    const socket = connect({ port, host: '127.0.0.1', localAddress });
    socket.on('error', () => undefined);
    sockets.push(socket);
    return socket;
  };

  /** Nest's framing of a call to no handler: answered all the same, with an error. */
  const call = () => {
    const json = JSON.stringify({ pattern: 'session.nothing', data: {}, id: 'x' });
    return `${json.length}#${json}`;
  };

  /**
   * A caller with catalog's certificate that sends one frame: `served` once an answer comes
   * back (the server has bound the connection: its handshake is done on both sides), false when
   * the connection closes first.
   */
  const caller = (localAddress: string) =>
    new Promise<{ served: boolean; socket: TLSSocket }>((resolve) => {
      const socket = connectTls(
        {
          // A TCP connection of our own, to choose the address it comes from.
          socket: connect({ port, host: '127.0.0.1', localAddress }),
          host: '127.0.0.1',
          ca: readFileSync(certificates.ca),
          cert: readFileSync(certificates.clients['catalog'].cert),
          key: readFileSync(certificates.clients['catalog'].key),
        },
        () => socket.write(call()),
      );
      sockets.push(socket);
      socket.on('error', () => undefined);
      socket.once('data', () => resolve({ served: true, socket }));
      socket.once('close', () => resolve({ served: false, socket }));
    });

  const closedWithin = (socket: Socket, ms: number) =>
    new Promise<boolean>((resolve) => {
      if (socket.destroyed) return resolve(true);
      const timer = setTimeout(() => resolve(false), ms);
      socket.once('close', () => {
        clearTimeout(timer);
        resolve(true);
      });
    });

  it('ends connections still in their TLS handshake when it closes, not only TLS sessions', async () => {
    await listen({});
    const listening = (server as unknown as { server: Server }).server;
    const accepted = new Promise((resolve) => listening.once('connection', resolve));
    const waiting = silent('127.0.0.1');
    const closed = new Promise((resolve) => waiting.once('close', resolve));
    await accepted;

    // The handshake timeout is 60 s here: only `close` can end the connection in time.
    server?.close();
    await closed;
    expect(waiting.destroyed).toBe(true);
  });

  it('closes connections from an address out of handshakes when they arrive, and no other address', async () => {
    await listen({ handshakesPerAddress: { burst: 3, perSecond: 0.5 } });
    const flood = Array.from({ length: 5 }, () => silent('127.0.0.2'));
    const closed = await Promise.all(flood.map((socket) => closedWithin(socket, 300)));
    // The first three are held in their handshake (60 s here); the next two closed at once.
    expect(closed).toEqual([false, false, false, true, true]);
    // Another address has its own budget; this one has none left, even with a certificate.
    expect((await caller('127.0.0.3')).served).toBe(true);
    expect((await caller('127.0.0.2')).served).toBe(false);
    // The stalled handshakes keep their units when they end: forgiven at 0.5 a second.
    flood.forEach((socket) => socket.destroy());
    await new Promise((resolve) => setTimeout(resolve, 2_200));
    expect((await caller('127.0.0.2')).served).toBe(true);
  });

  it('gives a completed handshake its unit back: a caller with a certificate reconnects without end', async () => {
    await listen({ handshakesPerAddress: { burst: 2, perSecond: 0 } });
    for (let i = 0; i < 10; i++) {
      const { served, socket } = await caller('127.0.0.4');
      expect(served).toBe(true);
      socket.destroy();
    }
    // Two at once fit the burst, held open; a third under way beside them would not, but
    // theirs are done and given back.
    const both = await Promise.all([caller('127.0.0.4'), caller('127.0.0.4')]);
    expect(both.map(({ served }) => served)).toEqual([true, true]);
    expect((await caller('127.0.0.4')).served).toBe(true);
  });

  it('limits nothing per address with handshakesPerAddress: false', async () => {
    await listen({ handshakesPerAddress: false });
    const flood = Array.from({ length: 80 }, () => silent('127.0.0.5'));
    const closed = await Promise.all(flood.map((socket) => closedWithin(socket, 500)));
    expect(closed.filter(Boolean)).toHaveLength(0);
  });

  it('closes a connection silent for idleTimeout after its handshake, not one that keeps talking', async () => {
    await listen({ idleTimeout: 400 });
    const quiet = await caller('127.0.0.1');
    const talking = await caller('127.0.0.1');
    expect([quiet.served, talking.served]).toEqual([true, true]);
    // A frame for no handler is answered: bytes both ways, every 150 ms for 1.2 s.
    const chatter = setInterval(() => talking.socket.write(call()), 150);
    try {
      expect(await closedWithin(quiet.socket, 1_200)).toBe(true);
      expect(talking.socket.destroyed).toBe(false);
    } finally {
      clearInterval(chatter);
    }
    expect(await closedWithin(talking.socket, 1_200)).toBe(true);
  });

  /** A caller with catalog's certificate, its handshake done. */
  const connected = (options: { allowHalfOpen?: boolean } = {}) =>
    new Promise<TLSSocket>((resolve) => {
      const socket = connectTls(
        {
          port,
          host: '127.0.0.1',
          ca: readFileSync(certificates.ca),
          cert: readFileSync(certificates.clients['catalog'].cert),
          key: readFileSync(certificates.clients['catalog'].key),
          ...options,
        },
        () => resolve(socket),
      );
      sockets.push(socket);
      socket.on('error', () => undefined);
    });

  /** A frame as Nest's framing writes it, with any id (none: an event); `data.n` is the id. */
  const frameWithId = (id?: unknown) => {
    const json = JSON.stringify({ pattern: 'session.nothing', data: { n: id }, id });
    return `${json.length}#${json}`;
  };

  /** The requests the server started, by id, each answered (with `answer`) when the test says. */
  const holdRequests = (answer: unknown = null) => {
    const started: unknown[] = [];
    const answers: Array<() => void> = [];
    const handler = (data: { n?: unknown }) => {
      started.push(data.n);
      return new Promise<unknown>((resolve) => answers.push(() => resolve(answer)));
    };
    jest
      .spyOn(ServerTCP.prototype, 'getHandlerByPattern')
      .mockReturnValue(handler as unknown as MessageHandler);
    return { started, answers };
  };

  it('starts at most maxInFlight of the frames one read brings, the others in order as those are answered', async () => {
    await listen({ maxInFlight: 3 });
    const { started, answers } = holdRequests();
    const socket = await connected();
    // One write, one TLS record, one read: Nest parses all fifty frames in one go.
    socket.write(Array.from({ length: 50 }, (_, i) => frameWithId(i)).join(''));
    while (started.length < 3) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    expect(started).toEqual([0, 1, 2]);
    for (let answered = 1; answered <= 47; answered++) {
      answers[answered - 1]();
      await new Promise((resolve) => setImmediate(resolve));
      expect(started).toHaveLength(3 + answered);
    }
    expect(started).toEqual(Array.from({ length: 50 }, (_, i) => i));
  });

  it.each([
    ['an id that is not a string or a number', frameWithId({ a: 1 })],
    ['no id (an event)', frameWithId()],
  ])(
    'serves none of the frames read after one with %s, which drops the connection',
    async (_, dropped) => {
      await listen({});
      const { started } = holdRequests();
      const socket = await connected();
      const closed = new Promise((resolve) => socket.once('close', resolve));
      socket.write(dropped + frameWithId('after-1') + frameWithId('after-2'));
      await closed;
      expect(started).toEqual([]);
    },
  );

  it('answers the requests read before an unreadable frame, then ends the connection and serves nothing after it', async () => {
    await listen({});
    const { started, answers } = holdRequests('answered');
    const socket = await connected({ allowHalfOpen: true });
    let received = '';
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => (received += chunk));
    socket.write(frameWithId('before'));
    while (started.length < 1) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    const warned = jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
    const ended = new Promise((resolve) => socket.once('end', resolve));
    socket.write('7#{{{{{{{' + frameWithId('behind'));
    while (!warned.mock.calls.some(([message]) => String(message).includes('not JSON'))) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    // The request read before the unreadable frame is answered, then the server ends its side;
    // this caller keeps writing.
    answers[0]();
    await ended;
    expect(received).toContain('"response":"answered"');
    const closed = new Promise((resolve) => socket.once('close', resolve));
    socket.end(frameWithId('after-1') + frameWithId('after-2'));
    await closed;
    expect(started).toEqual(['before']);
  });

  it('drops a connection with more than maxWaiting frames waiting past maxInFlight, serving none of them', async () => {
    await listen({ maxInFlight: 1, maxWaiting: 20 });
    const { started, answers } = holdRequests();
    const warnings = jest.spyOn(Logger.prototype, 'warn');
    const within = await connected();
    // One started, twenty waiting: the most it may hold.
    within.write(Array.from({ length: 21 }, (_, i) => frameWithId(i)).join(''));
    while (started.length < 1) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    for (let answered = 1; answered <= 20; answered++) {
      answers[answered - 1]();
      await new Promise((resolve) => setImmediate(resolve));
    }
    expect(started).toEqual(Array.from({ length: 21 }, (_, i) => i));
    expect(within.destroyed).toBe(false);

    const past = await connected();
    const closed = new Promise((resolve) => past.once('close', resolve));
    past.write(Array.from({ length: 22 }, (_, i) => frameWithId(100 + i)).join(''));
    await closed;
    expect(started.slice(21)).toEqual([100]);
    expect(warnings.mock.calls.map(([line]) => String(line))).toContain(
      'Closed a connection from catalog: more than 20 frames waiting past maxInFlight',
    );
  });

  it('reads no more of a connection while frames wait on it, even when its answers drain', async () => {
    await listen({ maxInFlight: 1, maxWaiting: 60 });
    // An answer above the socket's high-water mark: Nest holds its reading until it drains.
    const { started, answers } = holdRequests('x'.repeat(64 * 1024));
    const socket = await connected();
    // Read as it comes: each answer drains, and Nest resumes the connection.
    socket.on('data', () => undefined);
    const closed = closedWithin(socket, 60_000);
    socket.write(Array.from({ length: 41 }, (_, i) => frameWithId(i)).join(''));
    while (started.length < 1) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    // Forty more, read by the server only if it reads on while forty frames still wait: those
    // would wait behind them, past maxWaiting.
    await new Promise((resolve) => socket.write(frameWithId(41), resolve));
    await new Promise((resolve) =>
      socket.write(Array.from({ length: 40 }, (_, i) => frameWithId(42 + i)).join(''), resolve),
    );
    for (let answered = 1; answered <= 82 && !socket.destroyed; answered++) {
      while (started.length < answered && !socket.destroyed) {
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
      answers[answered - 1]?.();
    }
    expect(socket.destroyed).toBe(false);
    expect(started).toEqual(Array.from({ length: 82 }, (_, i) => i));
    socket.destroy();
    await closed;
  }, 30_000);

  it.each([
    ['text that is not JSON', (text: string) => `${text.length}#${text}`],
    ['a length header that is not a number', (text: string) => `${text}#{}`],
  ])(
    'logs %s as its length and escaped first characters, never as the caller wrote it',
    async (_, payload) => {
      await listen({});
      const warnings = jest.spyOn(Logger.prototype, 'warn');
      const forged = [
        '\n[Nest] 1  - 12/06/2026, 7:00:00 AM     LOG [Auth] admin logged out\r\n',
        '\u001b[2K\u001b[1A\u202e\u0000',
        'x'.repeat(50_000),
      ].join('');
      const socket = await connected();
      const closed = new Promise((resolve) => socket.once('close', resolve));
      socket.write(payload(forged));
      await closed;
      const lines = warnings.mock.calls
        .map(([line]) => String(line))
        .filter((line) => line.startsWith('Closed a connection from catalog'));
      expect(lines).toHaveLength(1);
      // Printable ASCII only, one short line: nothing of the caller's own layout reaches the log.
      expect(lines[0]).toMatch(/^[\x20-\x7e]{1,400}$/);
      expect(lines[0]).toContain(`(${forged.length} characters, starting "\\n[Nest] 1`);
      expect(lines[0]).not.toContain('xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx');
    },
  );

  it.each([
    ['text that is not JSON', (text: string) => `${text.length}#${text}`],
    ['a length header that is not a number', (text: string) => `${text}#{}`],
  ])('logs no run of a session token found in %s', async (_, payload) => {
    await listen({});
    const warnings = jest.spyOn(Logger.prototype, 'warn');
    // A framing slip that starts a "frame" inside a token: its secret part, then more JSON.
    const secret = 'Qm9vLXNlY3JldC1wYXJ0LW9mLWEtc2Vzc2lvbi10b2tlbg';
    const forged = `${secret}","pattern":"session.validate"}`;
    const socket = await connected();
    const closed = new Promise((resolve) => socket.once('close', resolve));
    socket.write(payload(forged));
    await closed;
    const lines = warnings.mock.calls
      .map(([line]) => String(line))
      .filter((line) => line.startsWith('Closed a connection from catalog'));
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain(`(${forged.length} characters, starting "<`);
    expect(lines[0]).not.toContain(secret.slice(0, 8));
  });
});
