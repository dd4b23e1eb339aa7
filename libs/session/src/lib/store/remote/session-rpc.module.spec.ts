import { EventEmitter } from 'node:events';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { connect, Server, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TLSSocket } from 'node:tls';

import { ServerTCP, TcpContext, TcpSocket } from '@nestjs/microservices';

import { makeDevCertificates } from '../../../testing/dev-certificates';
import { SessionRpcServer, sessionRpcTransport } from './session-rpc.module';

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
    disableRenegotiation: jest.fn(),
    getPeerCertificate: () => ({ subject: { CN: caller } }),
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

  it('ends connections still in their TLS handshake when it closes, not only TLS sessions', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'rpc-close-'));
    const certificates = makeDevCertificates(dir, []);
    const server = sessionRpcTransport({
      host: '127.0.0.1',
      port: 0,
      // Far past the test's timeout: only `close` can end the connection in time.
      handshakeTimeout: 60_000,
      tls: {
        ca: readFileSync(certificates.ca),
        cert: readFileSync(certificates.server.cert),
        key: readFileSync(certificates.server.key),
      },
    }).strategy as SessionRpcServer;
    try {
      await new Promise<void>((resolve, reject) =>
        server.listen((error?: unknown) => (error ? reject(error) : resolve())),
      );
      const listening = (server as unknown as { server: Server }).server;
      const { port } = listening.address() as { port: number };
      const accepted = new Promise((resolve) => listening.once('connection', resolve));
      const silent = connect(port, '127.0.0.1');
      silent.on('error', () => undefined);
      const closed = new Promise((resolve) => silent.once('close', resolve));
      await accepted;

      server.close();
      await closed;
      expect(silent.destroyed).toBe(true);
    } finally {
      server.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
