import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, ConnectionOptions, TLSSocket } from 'node:tls';

import { INestMicroservice } from '@nestjs/common';
import { Test } from '@nestjs/testing';

import { SessionModule } from '../src';
import { SessionRpcModule, sessionRpcTransport } from '../src/rpc';
import { DevCertificates, freePort, makeDevCertificates, readRpcFrames } from '../src/testing';
import { shortLivedClient } from './short-lived-certificate';
import { REDIS_URL, sleep, uniquePrefix } from './store-contract';

/** A raw caller of the session RPC on one connection: each call answered, or the connection closed. */
interface Caller {
  socket: TLSSocket;
  /** The TLS session to resume, once the server sent one. */
  session: Promise<Buffer>;
  ping(): Promise<'answered' | 'closed'>;
  closed: Promise<void>;
}

function call(port: number, tls: ConnectionOptions): Promise<Caller> {
  const socket = connect({ host: '127.0.0.1', port, servername: 'localhost', ...tls });
  const answered = new Map<string, () => void>();
  readRpcFrames(socket, (frame) => answered.get((frame as { id: string }).id)?.());
  socket.on('error', () => undefined);
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  const session = new Promise<Buffer>((resolve) => socket.once('session', resolve));
  return new Promise((resolve, reject) => {
    socket.once('secureConnect', () =>
      resolve({
        socket,
        session,
        closed,
        ping: () => {
          const id = randomUUID();
          const json = JSON.stringify({ pattern: 'session.ping', data: {}, id });
          const answer = new Promise<'answered'>((done) =>
            answered.set(id, () => done('answered')),
          );
          if (!socket.destroyed) socket.write(`${json.length}#${json}`);
          return Promise.race([answer, closed.then(() => 'closed' as const)]);
        },
      }),
    );
    socket.once('error', reject);
  });
}

describe('the session RPC and the validity of client certificates', () => {
  let dir: string;
  let certificates: DevCertificates;
  let port: number;
  let rpc: INestMicroservice;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'cloakroom-cert-expiry-'));
    certificates = makeDevCertificates(dir, ['catalog']);
    port = await freePort();
    const moduleRef = await Test.createTestingModule({
      imports: [
        SessionModule.forRoot({ redis: { url: REDIS_URL }, keyPrefix: uniquePrefix() }),
        SessionRpcModule.register({
          capabilities: { catalog: { calls: ['validate'], fields: ['id', 'userId'] } },
        }),
      ],
    }).compile();
    rpc = moduleRef.createNestMicroservice({
      ...sessionRpcTransport({ host: '127.0.0.1', port, tls: certificates.serverTls() }),
      logger: false,
    });
    await rpc.listen();
  });

  afterAll(async () => {
    await rpc?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const minutesAgo = (minutes: number) => new Date(Date.now() - minutes * 60_000);

  it('serves a caller whose certificate is valid', async () => {
    const caller = await call(port, certificates.remoteTls('catalog'));
    await expect(caller.ping()).resolves.toBe('answered');
    caller.socket.destroy();
  });

  it('refuses at the handshake a certificate that has expired, or is not valid yet', async () => {
    const expired = shortLivedClient(certificates, 'catalog', minutesAgo(60), minutesAgo(1));
    const early = shortLivedClient(
      certificates,
      'catalog',
      new Date(Date.now() + 3_600_000),
      new Date(Date.now() + 7_200_000),
    );
    for (const tls of [expired, early]) {
      // TLS 1.3: the client finishes its side before the server has checked its certificate.
      const outcome = await call(port, tls).then(
        (caller) => caller.ping(),
        () => 'refused',
      );
      expect(outcome).not.toBe('answered');
    }
  });

  it('closes a connection once its certificate expires, and resumes no TLS session after', async () => {
    const notAfter = new Date(Math.ceil((Date.now() + 4_000) / 1000) * 1000);
    const tls = shortLivedClient(certificates, 'catalog', minutesAgo(1), notAfter);
    const caller = await call(port, tls);
    await expect(caller.ping()).resolves.toBe('answered');
    const session = await caller.session;
    // A connection the certificate opened must not outlive it: a service whose certificate
    // was not renewed (or was left to expire on purpose) keeps no access through it.
    while (Date.now() <= notAfter.getTime() + 500) {
      await sleep(100);
    }
    await expect(caller.ping()).resolves.toBe('closed');
    // A TLS session ticket from while it was valid does not bring the certificate back.
    const resumed = await call(port, { ...tls, session });
    // Resumed (no certificate check at the handshake): the case this test is about.
    const reused = resumed.socket.isSessionReused();
    expect({ reused, ping: await resumed.ping() }).toEqual({ reused: true, ping: 'closed' });
  }, 30_000);
});
