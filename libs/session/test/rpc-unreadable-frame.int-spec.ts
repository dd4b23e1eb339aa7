import { connect as connectTcp, Server } from 'node:net';
import { connect as connectTls, TLSSocket } from 'node:tls';

import { sessionRpcTransport } from '../src/rpc';
import { testCertificates } from './store-contract';

const certificates = testCertificates();
afterAll(() => certificates.dispose());

/** A frame for no handler: answered all the same, with an error. */
function call(): string {
  const json = JSON.stringify({ pattern: 'session.nothing', data: {}, id: 'x' });
  return `${json.length}#${json}`;
}

/**
 * After a frame it cannot read, the server ends its side of the connection (its answers
 * written first, as Nest does) and serves nothing more on it. A caller that kept its own side
 * open held the connection, and its slot under the per-caller cap, for good: every byte it sent
 * restarted the idle timer, and a silent one kept it the whole idle timeout (3 minutes).
 */
describe('the session RPC after a frame it cannot read', () => {
  let server: ReturnType<typeof sessionRpcTransport>['strategy'];
  let port: number;
  const sockets: TLSSocket[] = [];
  /** The server's side of the latest connection: the callers here connect one at a time. */
  let serverSide: TLSSocket | undefined;

  beforeAll(async () => {
    server = sessionRpcTransport({
      host: '127.0.0.1',
      port: 0,
      tls: certificates.serverTls(),
      incompleteFrameTimeout: 500,
      // Far past the hang detectors below: only the end of an unreadable connection closes it.
      idleTimeout: 600_000,
      handshakesPerAddress: false,
    }).strategy;
    await new Promise<void>((resolve, reject) =>
      server.listen((error?: unknown) => (error ? reject(error) : resolve())),
    );
    const listening = (server as unknown as { server: Server }).server;
    port = (listening.address() as { port: number }).port;
    listening.on('secureConnection', (socket: TLSSocket) => (serverSide = socket));
  });
  afterAll(() => {
    sockets.forEach((socket) => socket.destroy());
    server.close();
  });

  /** Catalog's connection, its own side kept open when the server ends its own. */
  const connected = () =>
    new Promise<{ socket: TLSSocket; answers: () => number; closed: () => boolean }>((resolve) => {
      let received = 0;
      let closed = false;
      const socket = connectTls(
        {
          socket: connectTcp({ port, host: '127.0.0.1', allowHalfOpen: true }),
          host: '127.0.0.1',
          ...certificates.remoteTls('catalog'),
        },
        () => resolve({ socket, answers: () => received, closed: () => closed }),
      );
      sockets.push(socket);
      socket.setEncoding('utf8');
      socket.on('data', (chunk: string) => (received += chunk.split('"id":"x"').length - 1));
      socket.on('error', () => undefined);
      socket.on('close', () => (closed = true));
    });

  const until = async (condition: () => boolean, what: string) => {
    // A hang detector, far past the 0.5 s the server is given.
    const deadline = Date.now() + 15_000;
    while (!condition()) {
      if (Date.now() > deadline) throw new Error(`${what}: not in 15 s`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  };

  const unreadable = [
    ['text that is not JSON', '7#{{{{{{{'],
    ['a length header that is not a number', 'abc#{}'],
    ['more than the largest frame without a length header', '9'.repeat(70 * 1024)],
  ];

  it.each(unreadable)(
    'closes the connection after %s, however long the caller keeps writing',
    async (_, payload) => {
      const caller = await connected();
      caller.socket.write(call());
      await until(() => caller.answers() === 1, 'an answer');
      const ended = new Promise((resolve) => caller.socket.once('end', resolve));
      caller.socket.write(payload);
      await ended;
      let written = 0;
      const chatter = setInterval(() => {
        if (!caller.closed()) caller.socket.write(call(), () => written++);
      }, 50);
      try {
        await until(caller.closed, 'the connection closed');
      } finally {
        clearInterval(chatter);
      }
      expect(written).toBeGreaterThan(0);
      expect(caller.answers()).toBe(1);
    },
    30_000,
  );

  it.each(unreadable)(
    'closes the connection after %s when the caller goes silent without closing it',
    async (_, payload) => {
      const caller = await connected();
      caller.socket.write(call());
      await until(() => caller.answers() === 1, 'an answer');
      const connection = serverSide;
      caller.socket.write(payload);
      // A FIN the silent caller does not answer: only the server's side shows the connection gone.
      await until(() => connection?.destroyed === true, 'the connection closed');
      expect(caller.answers()).toBe(1);
    },
    30_000,
  );

  it('serves a caller that connects after them', async () => {
    const caller = await connected();
    caller.socket.write(call());
    await until(() => caller.answers() === 1, 'an answer');
    expect(caller.closed()).toBe(false);
  });
});
