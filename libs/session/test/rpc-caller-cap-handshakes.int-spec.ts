import { connect as connectTcp, Server } from 'node:net';
import { connect as connectTls, TLSSocket } from 'node:tls';

import { sessionRpcTransport } from '../src/rpc';
import { testCertificates } from './store-contract';

const certificates = testCertificates();
afterAll(() => certificates.dispose());

/**
 * A caller at its connection cap has every further connection closed once its handshake is done:
 * the handshake (a key exchange and a signature of auth's) was given its unit back all the same,
 * so a service's certificate (a compromised host, a reconnect loop gone wrong) made auth run
 * key exchanges as fast as it could connect, past the per-address budget that bounds them for
 * every host without one.
 */
describe('the session RPC, a caller at its connection cap that keeps connecting', () => {
  let server: ReturnType<typeof sessionRpcTransport>['strategy'];
  let port: number;
  const sockets: TLSSocket[] = [];

  beforeAll(async () => {
    server = sessionRpcTransport({
      host: '127.0.0.1',
      port: 0,
      tls: certificates.serverTls(),
      maxConnectionsPerCaller: 2,
      // Nothing forgiven during the test: what the budget allows is its burst.
      handshakesPerAddress: { burst: 5, perSecond: 0 },
    }).strategy;
    await new Promise<void>((resolve, reject) =>
      server.listen((error?: unknown) => (error ? reject(error) : resolve())),
    );
    port = ((server as unknown as { server: Server }).server.address() as { port: number }).port;
  });
  afterAll(() => {
    sockets.forEach((socket) => socket.destroy());
    server.close();
  });

  /** Catalog connecting from `localAddress`: whether auth ran its handshake, and whether it serves it. */
  const attempt = (localAddress: string) =>
    new Promise<{ handshake: boolean; served: boolean }>((resolve) => {
      let handshake = false;
      const socket = connectTls(
        {
          socket: connectTcp({ port, host: '127.0.0.1', localAddress }),
          host: '127.0.0.1',
          ...certificates.remoteTls('catalog'),
        },
        () => {
          handshake = true;
          const json = JSON.stringify({ pattern: 'session.nothing', data: {}, id: 'x' });
          socket.write(`${json.length}#${json}`);
        },
      );
      sockets.push(socket);
      socket.on('error', () => undefined);
      socket.once('data', () => resolve({ handshake, served: true }));
      socket.once('close', () => resolve({ handshake, served: false }));
    });

  it('runs at most the address budget of handshakes for it, and serves the connections it holds', async () => {
    const held = [await attempt('127.0.0.21'), await attempt('127.0.0.21')];
    expect(held).toEqual([
      { handshake: true, served: true },
      { handshake: true, served: true },
    ]);
    const refused = [];
    for (let i = 0; i < 20; i++) refused.push(await attempt('127.0.0.21'));
    expect(refused.filter(({ served }) => served)).toHaveLength(0);
    // Those held gave their units back; the budget (5) pays for the refused ones' handshakes.
    expect(refused.filter(({ handshake }) => handshake)).toHaveLength(5);
  });

  it('leaves another address its own budget', async () => {
    expect(await attempt('127.0.0.22')).toEqual({ handshake: true, served: false });
  });
});
