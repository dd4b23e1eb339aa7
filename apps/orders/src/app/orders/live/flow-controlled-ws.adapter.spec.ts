import { AddressInfo, Socket } from 'node:net';
import { INestApplicationContext } from '@nestjs/common';
import { from, Observable } from 'rxjs';
import { WebSocket, WebSocketServer } from 'ws';

import { FlowControlledWsAdapter } from './flow-controlled-ws.adapter';

const ANSWER = 'x'.repeat(256 * 1024);

describe('FlowControlledWsAdapter', () => {
  let server: WebSocketServer;
  let client: WebSocket | undefined;

  afterEach(async () => {
    client?.terminate();
    await new Promise((resolve) => server.close(resolve));
  });

  it('drops a socket that leaves more than maxUnreadBytes of answers unread, without waiting for its close to time out', async () => {
    const adapter = new FlowControlledWsAdapter(undefined as unknown as INestApplicationContext, {
      maxInFlight: 4,
      maxUnreadBytes: 1024 * 1024,
    });
    let handled = 0;
    const serverSocket = new Promise<WebSocket>((resolve) => {
      server = new WebSocketServer({ host: '127.0.0.1', port: 0 }, () => undefined);
      server.on('connection', (socket) => {
        adapter.bindMessageHandlers(
          socket,
          [
            {
              message: 'big',
              methodName: 'big',
              isAckHandledManually: false,
              callback: async () => {
                handled++;
                return ANSWER;
              },
            },
          ],
          (result) => from(result as Promise<unknown>) as Observable<unknown>,
        );
        resolve(socket);
      });
    });
    await new Promise((resolve) => server.once('listening', resolve));
    const { port } = server.address() as AddressInfo;
    client = new WebSocket(`ws://127.0.0.1:${port}`);
    await new Promise((resolve) => client?.once('open', resolve));
    const socket = await serverSocket;
    const serverClosed = new Promise<void>((resolve) => socket.once('close', () => resolve()));

    // A client that asks one thing at a time, within the in-flight limit, and never reads.
    (client as unknown as { _socket: Socket })._socket.pause();
    client.on('error', () => undefined);
    let dropped = false;
    void serverClosed.then(() => (dropped = true));
    for (let i = 0; i < 200 && !dropped; i++) {
      client.send(JSON.stringify({ event: 'big' }));
      await new Promise((resolve) => setTimeout(resolve, 10));
    }

    // Closed with a frame queued behind megabytes it never reads, the socket would stay open
    // until ws's 30 s close timeout; dropped, it is gone at once.
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      serverClosed,
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error('the server still holds the socket')), 5000);
      }),
    ]).finally(() => clearTimeout(timer));
    expect(handled).toBeLessThan(200);
  }, 20_000);
});
