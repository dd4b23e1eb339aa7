import { EventEmitter } from 'node:events';
import type { Socket } from 'node:net';
import { TLSSocket } from 'node:tls';

import { ServerTCP, TcpContext, TcpSocket } from '@nestjs/microservices';

import { SessionRpcServer } from './session-rpc.module';

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
});
