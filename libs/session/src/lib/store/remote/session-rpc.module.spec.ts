import { ServerTCP, TcpContext, TcpSocket } from '@nestjs/microservices';

import { SessionRpcServer } from './session-rpc.module';

/** A connection as the server sees it: only whether its reading is paused matters here. */
function fakeConnection() {
  const netSocket = { pause: jest.fn(), resume: jest.fn(), destroy: jest.fn() };
  return { socket: { netSocket } as unknown as TcpSocket, netSocket };
}

describe('SessionRpcServer', () => {
  afterEach(() => jest.restoreAllMocks());

  it('stops reading a connection at maxInFlight unanswered requests, and reads on after an answer', async () => {
    const answers: Array<() => void> = [];
    jest
      .spyOn(ServerTCP.prototype, 'handleMessage')
      .mockImplementation(() => new Promise<void>((resolve) => answers.push(resolve)));
    const server = new SessionRpcServer(3, { port: 0 });
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
    const server = new SessionRpcServer(1, { port: 0 });
    const { socket, netSocket } = fakeConnection();
    await expect(server.handleMessage(socket, 'frame')).rejects.toThrow('bad frame');
    expect(netSocket.pause).toHaveBeenCalledTimes(1);
    expect(netSocket.resume).toHaveBeenCalledTimes(1);
  });

  it('drops a connection that sends an event: the RPC serves none', async () => {
    const server = new SessionRpcServer(3, { port: 0 });
    const { socket, netSocket } = fakeConnection();
    await server.handleEvent(
      'anything',
      { pattern: 'anything', data: null },
      new TcpContext([socket, 'anything']),
    );
    expect(netSocket.destroy).toHaveBeenCalled();
  });
});
