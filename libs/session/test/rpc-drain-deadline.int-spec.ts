import { connect as connectTcp, Server } from 'node:net';
import { connect as connectTls, TLSSocket } from 'node:tls';

import { Logger } from '@nestjs/common';
import { MessageHandler, ServerTCP } from '@nestjs/microservices';
import { firstValueFrom } from 'rxjs';

import { ReconnectingClientTCP, RpcConnectionClosedError, sessionRpcTransport } from '../src/rpc';
import { testCertificates, until } from './store-contract';

jest.setTimeout(30_000);

const certificates = testCertificates();
afterAll(() => certificates.dispose());

/** What a drain came to within a hang detector far past its `drainTimeout` (300 ms here). */
const settled = (drain: Promise<void>) =>
  Promise.race([
    drain.then(() => 'drained'),
    new Promise((resolve) => setTimeout(() => resolve('still draining'), 10_000).unref()),
  ]);

/**
 * A shutdown's drain ends each connection once its calls are answered and waits for it to
 * close. A caller that kept its side open after the FIN, kept a call unanswered, or never
 * finished its handshake held the drain, and the shutdown behind it, for good.
 */
describe('SessionRpcServer.drain against callers that do not let go', () => {
  let server: ReturnType<typeof sessionRpcTransport>['strategy'];
  let port: number;
  let warnings: jest.SpyInstance;
  const sockets: { destroy(): void }[] = [];

  beforeEach(async () => {
    warnings = jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
    server = sessionRpcTransport({
      host: '127.0.0.1',
      port: 0,
      tls: certificates.serverTls(),
      drainTimeout: 300,
      // Far past the test: only the drain's deadline closes these connections in time.
      handshakeTimeout: 60_000,
      idleTimeout: 600_000,
    }).strategy;
    await new Promise<void>((resolve, reject) =>
      server.listen((error?: unknown) => (error ? reject(error) : resolve())),
    );
    port = ((server as unknown as { server: Server }).server.address() as { port: number }).port;
  });

  afterEach(() => {
    sockets.splice(0).forEach((socket) => socket.destroy());
    server.close();
    jest.restoreAllMocks();
    warnings.mockRestore();
  });

  const frame = () => {
    const json = JSON.stringify({ pattern: 'session.nothing', data: {}, id: 'x' });
    return `${json.length}#${json}`;
  };

  it('closes a connection whose caller keeps its side open after the FIN, and resolves', async () => {
    const listening = (server as unknown as { server: Server }).server;
    const serverSide = new Promise<TLSSocket>((resolve) =>
      listening.once('secureConnection', resolve),
    );
    const socket = await new Promise<TLSSocket>((resolve) => {
      const opened: TLSSocket = connectTls(
        {
          socket: connectTcp({ port, host: '127.0.0.1', allowHalfOpen: true }),
          host: '127.0.0.1',
          ...certificates.remoteTls('catalog'),
        },
        () => resolve(opened),
      );
      opened.on('error', () => undefined);
      sockets.push(opened);
    });
    const answered = new Promise((resolve) => socket.once('data', resolve));
    socket.write(frame());
    await answered;
    const ended = new Promise((resolve) => socket.once('end', resolve));

    const drain = server.drain();
    await ended;
    expect(await settled(drain)).toBe('drained');
    // The caller, silent, learns it on its next write; auth's side is gone.
    expect((await serverSide).destroyed).toBe(true);
  });

  it('closes a connection still in its handshake, and resolves', async () => {
    const listening = (server as unknown as { server: Server }).server;
    const accepted = new Promise((resolve) => listening.once('connection', resolve));
    const silent = connectTcp({ port, host: '127.0.0.1' });
    silent.on('error', () => undefined);
    sockets.push(silent);
    await accepted;

    expect(await settled(server.drain())).toBe('drained');
    await until(() => silent.closed);
  });

  it("fails a call still unanswered at the deadline on the caller's side, and resolves", async () => {
    let started = 0;
    // A handler that never answers: a call held in Redis, say, past the shutdown's budget.
    jest.spyOn(ServerTCP.prototype, 'getHandlerByPattern').mockReturnValue((() => {
      started++;
      return new Promise(() => undefined);
    }) as unknown as MessageHandler);
    const client = new ReconnectingClientTCP(
      { host: '127.0.0.1', port, tlsOptions: certificates.remoteTls('catalog') },
      { silentMs: 60_000 },
    );
    sockets.push({ destroy: () => void client.close() });
    const answer = firstValueFrom(client.send('session.held', {})).catch((error) => error);
    await until(() => started === 1);

    expect(await settled(server.drain())).toBe('drained');
    expect(await answer).toBeInstanceOf(RpcConnectionClosedError);
  });
});
