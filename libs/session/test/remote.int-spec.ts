import { ClientProxy, ClientProxyFactory, Transport } from '@nestjs/microservices';
import { firstValueFrom } from 'rxjs';

import { SessionOperationNotServedError, SessionRpc, SessionService } from '../src';
import { freePort } from '../src/testing';
import {
  alice,
  RpcServer,
  sessionService,
  startRpcServer,
  testCertificates,
  uniquePrefix,
} from './store-contract';

const certificates = testCertificates();
afterAll(() => certificates.dispose());

describe('RemoteSessionStore when the auth service is down', () => {
  const keyPrefix = uniquePrefix();
  let port: number;
  let rpc: RpcServer;

  beforeAll(async () => {
    port = await freePort();
    rpc = await startRpcServer(port, keyPrefix, certificates);
  });

  afterAll(() => rpc?.server.close());

  it('fails with SessionStoreUnavailableError, and works again once auth is back', async () => {
    const { sessions, close } = await sessionService({
      remote: { host: '127.0.0.1', port, tls: certificates.remoteTls('contract') },
      storeTimeout: 0.5,
    });
    try {
      const { token } = await rpc.sessions.create(alice);
      await rpc.server.close();
      await expect(sessions.validate(token)).rejects.toThrow('Session store unavailable');
      rpc = await startRpcServer(port, keyPrefix, certificates);
      let user: string | undefined;
      for (let i = 0; i < 30 && !user; i++) {
        user = await sessions.validate(token).then(
          (session) => session?.username,
          () => undefined,
        );
        if (!user) await new Promise((resolve) => setTimeout(resolve, 100));
      }
      expect(user).toBe('alice');
    } finally {
      await close();
    }
  });
});

describe('RemoteSessionStore, a validator', () => {
  let rpc: RpcServer;
  let catalog: { sessions: SessionService; close: () => Promise<void> };

  beforeAll(async () => {
    const port = await freePort();
    rpc = await startRpcServer(port, uniquePrefix(), certificates);
    catalog = await sessionService({
      remote: { host: '127.0.0.1', port, tls: certificates.remoteTls('catalog') },
    });
  });

  afterAll(async () => {
    await catalog?.close();
    await rpc?.server.close();
  });

  it('refuses, with a clear error, every operation auth keeps in-process', async () => {
    const { token, session } = await rpc.sessions.create(alice);
    const { sessions } = catalog;
    const refused: Array<[string, () => Promise<unknown>]> = [
      ['create', () => sessions.create(alice)],
      ['session.get', () => sessions.get(session.id)],
      ['revoke', () => sessions.revoke(token)],
      ['list', () => sessions.listForUser(alice.id)],
      ['revokeAll', () => sessions.revokeAllForUser(alice.id)],
      ['setRoles', () => sessions.setRolesForUser(alice.id, ['admin'])],
      ['generation', () => sessions.generationOf(alice.id)],
      ['rotate', () => sessions.rotate(token)],
      ['revokeEverything', () => sessions.revokeEverything()],
      ['patch by id', () => sessions.patch(session.id, { cart: 1 })],
    ];
    for (const [operation, call] of refused) {
      const error = await call().then(
        () => undefined,
        (thrown: unknown) => thrown,
      );
      expect(error).toBeInstanceOf(SessionOperationNotServedError);
      expect((error as Error).message).toContain(`does not serve \`${operation}`);
    }
    expect(await sessions.validate(token)).toMatchObject({ id: session.id, roles: ['customer'] });
  });

  it('gives a service only the session fields its capability names', async () => {
    const { token, session } = await rpc.sessions.create(
      alice,
      {
        ip: '10.0.0.9',
        userAgent: 'UA/9',
        device: 'Edge 131 on Windows',
        attributes: { cart: [1] },
      },
      { persistent: true },
    );
    const seen = await catalog.sessions.validate(token);
    expect(seen).toMatchObject({ userId: alice.id, username: 'alice', roles: ['customer'] });
    expect(seen).not.toHaveProperty('ip');
    expect(seen).not.toHaveProperty('userAgent');
    expect(seen).not.toHaveProperty('device');
    expect(seen?.attributes).toEqual({});
    // What the guard needs for @RequireRecentAuth(), whatever the capability lists.
    expect(seen).toMatchObject({ authenticatedAt: session.authenticatedAt, persistent: true });
  });

  it('refuses a patch from a service that may only validate, and changes nothing', async () => {
    const { token, session } = await rpc.sessions.create(alice);
    await expect(catalog.sessions.patch(token, { admin: true })).rejects.toBeInstanceOf(
      SessionOperationNotServedError,
    );
    expect((await rpc.sessions.get(session.id))?.attributes).toEqual({});
  });
});

describe('the session RPC, a trust boundary', () => {
  let rpc: RpcServer;
  const clients: ClientProxy[] = [];
  let port: number;

  const client = (name: string) => {
    const created = ClientProxyFactory.create({
      transport: Transport.TCP,
      options: { host: '127.0.0.1', port, tlsOptions: certificates.remoteTls(name) },
    });
    clients.push(created);
    return (pattern: string, payload: unknown) =>
      firstValueFrom(created.send<unknown>(pattern, payload));
  };

  beforeAll(async () => {
    port = await freePort();
    rpc = await startRpcServer(port, uniquePrefix(), certificates);
  });

  afterAll(async () => {
    await Promise.all(clients.map((created) => created.close()));
    await rpc?.server.close();
  });

  it('validates by token only: a public session id, or anything malformed, is no session', async () => {
    const send = client('contract');
    const { session } = await rpc.sessions.create(alice);
    for (const token of [session.id, 'garbage', 42, null, `cr1.AAAAAAAA.${'B'.repeat(43)}`]) {
      expect(await send(SessionRpc.validate, { token })).toBeNull();
      expect(await send(SessionRpc.patch, { token, attributes: {} })).toBe(false);
    }
    expect(await send(SessionRpc.validate, { id: session.id })).toBeNull();
  });

  it('refuses malformed patches', async () => {
    const send = client('contract');
    const { token } = await rpc.sessions.create(alice);
    for (const payload of [
      { token, attributes: 'x' },
      { token, attributes: [] },
      { token, attributes: {}, remove: [1] },
    ]) {
      await expect(send(SessionRpc.patch, payload)).rejects.toMatchObject({
        message: expect.stringMatching(/^Malformed session request/),
      });
    }
  });

  it('refuses a caller whose certificate its CA signed but no capability names', async () => {
    const send = client('stranger');
    const { token } = await rpc.sessions.create(alice);
    for (const pattern of [SessionRpc.validate, SessionRpc.patch, SessionRpc.ping]) {
      await expect(send(pattern, { token, attributes: {} })).rejects.toMatchObject({
        refused: true,
        message: 'refused: not in the capability table',
      });
    }
  });
});
