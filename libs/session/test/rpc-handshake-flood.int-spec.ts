import { connect as connectTcp, Server, Socket } from 'node:net';
import { connect as connectTls, TLSSocket } from 'node:tls';

import { Logger } from '@nestjs/common';

import { sessionRpcTransport } from '../src/rpc';
import { testCertificates, until } from './store-contract';

const certificates = testCertificates();
afterAll(() => certificates.dispose());

/**
 * Hosts without a certificate, each within its own handshake budget, opening connections and
 * sending nothing: the per-address budget bounds each of them, not all of them together, so
 * auth held a socket and a handshake's state for every connection of every host.
 */
describe('the session RPC under stalled handshakes from many addresses', () => {
  let server: ReturnType<typeof sessionRpcTransport>['strategy'];
  let listening: Server;
  let port: number;
  let warnings: jest.SpyInstance;
  const sockets: Socket[] = [];
  /** The next loopback address a flooding host connects from. */
  let host = 10;

  beforeEach(async () => {
    warnings = jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
    server = sessionRpcTransport({
      host: '127.0.0.1',
      port: 0,
      tls: certificates.serverTls(),
      maxHandshakes: 4,
      // Far past the test: only the global limit closes a stalled handshake in time.
      handshakeTimeout: 60_000,
      handshakesPerAddress: { burst: 2, perSecond: 0 },
    }).strategy;
    await new Promise<void>((resolve, reject) =>
      server.listen((error?: unknown) => (error ? reject(error) : resolve())),
    );
    listening = (server as unknown as { server: Server }).server;
    port = (listening.address() as { port: number }).port;
  });

  afterEach(() => {
    sockets.splice(0).forEach((socket) => socket.destroy());
    server.close();
    warnings.mockRestore();
  });

  /** A connection from a fresh address that sends nothing, once the server has accepted it. */
  const stalled = async () => {
    const accepted = new Promise((resolve) => listening.once('connection', resolve));
    const socket = connectTcp({ port, host: '127.0.0.1', localAddress: `127.0.0.${host++}` });
    socket.on('error', () => undefined);
    sockets.push(socket);
    await accepted;
    return socket;
  };

  /** Catalog's connection, and whether a frame it sends is answered. */
  const open = () =>
    new Promise<{ served: boolean; socket: TLSSocket }>((resolve) => {
      const socket = connectTls(
        {
          socket: connectTcp({ port, host: '127.0.0.1', localAddress: '127.0.0.250' }),
          host: '127.0.0.1',
          ...certificates.remoteTls('catalog'),
        },
        () => {
          const json = JSON.stringify({ pattern: 'session.nothing', data: {}, id: 'x' });
          socket.write(`${json.length}#${json}`);
        },
      );
      sockets.push(socket);
      socket.on('error', () => undefined);
      socket.once('data', () => resolve({ served: true, socket }));
      socket.once('close', () => resolve({ served: false, socket }));
    });
  const served = async () => (await open()).served;

  it('holds at most maxHandshakes connections in their handshake, dropping the oldest for a new one', async () => {
    const flood: Socket[] = [];
    for (let i = 0; i < 10; i++) flood.push(await stalled());
    await until(() => flood.filter((socket) => socket.closed).length >= 6);
    expect(flood.map((socket) => socket.closed)).toEqual([
      ...Array(6).fill(true),
      ...Array(4).fill(false),
    ]);
    expect(warnings).toHaveBeenCalledWith(
      expect.stringContaining('in its TLS handshake: 4 under way, the most allowed'),
    );
  });

  it('leaves the connections past their handshake alone, however many stalled ones arrive', async () => {
    const callers = [];
    for (let i = 0; i < 6; i++) callers.push(await open());
    expect(callers.map(({ served }) => served)).toEqual(Array(6).fill(true));
    const flood: Socket[] = [];
    for (let i = 0; i < 8; i++) flood.push(await stalled());
    await until(() => flood.filter((socket) => socket.closed).length >= 4);
    expect(callers.map(({ socket }) => socket.closed)).toEqual(Array(6).fill(false));
  });

  it('serves a caller with a certificate while stalled connections keep the limit full', async () => {
    let flooding = true;
    const refill = (socket: Socket) =>
      socket.once('close', () => {
        if (flooding) void stalled().then(refill);
      });
    for (let i = 0; i < 4; i++) refill(await stalled());
    try {
      for (let i = 0; i < 5; i++) {
        expect(await served()).toBe(true);
      }
    } finally {
      flooding = false;
    }
  });
});
