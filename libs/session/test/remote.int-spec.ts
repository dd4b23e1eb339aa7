import { INestMicroservice } from '@nestjs/common';
import { ClientProxy, ClientProxyFactory, Transport } from '@nestjs/microservices';
import { firstValueFrom } from 'rxjs';

import { SessionRpc } from '../src';
import { freePort } from '../src/testing';
import { alice, sessionService, startRpcServer, uniquePrefix } from './store-contract';

describe('RemoteSessionStore when the auth service is down', () => {
  const keyPrefix = uniquePrefix();
  let port: number;
  let server: INestMicroservice;

  beforeAll(async () => {
    port = await freePort();
    server = await startRpcServer(port, keyPrefix);
  });

  afterAll(() => server?.close());

  it('fails with SessionStoreUnavailableError, and works again once auth is back', async () => {
    const { sessions, close } = await sessionService({
      remote: { host: '127.0.0.1', port },
      storeTimeout: 0.5,
    });
    try {
      const { token } = await sessions.create(alice);
      await server.close();
      await expect(sessions.validate(token)).rejects.toThrow('Session store unavailable');
      server = await startRpcServer(port, keyPrefix);
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

describe('SessionRpcController, a trust boundary', () => {
  const keyPrefix = uniquePrefix();
  let server: INestMicroservice;
  let client: ClientProxy;

  beforeAll(async () => {
    const port = await freePort();
    server = await startRpcServer(port, keyPrefix);
    client = ClientProxyFactory.create({
      transport: Transport.TCP,
      options: { host: '127.0.0.1', port },
    });
  });

  afterAll(async () => {
    await client?.close();
    await server?.close();
  });

  const send = (pattern: string, payload: unknown) =>
    firstValueFrom(client.send<unknown>(pattern, payload));

  it('treats a malformed session id as no session', async () => {
    for (const id of ['garbage', 42, null, 'cr1.AAAAAAAA.' + 'B'.repeat(43)]) {
      expect(await send(SessionRpc.validate, { id })).toBeNull();
      expect(await send(SessionRpc.revoke, { id })).toBe(false);
      expect(await send(SessionRpc.patch, { id, attributes: {} })).toBe(false);
    }
  });

  it('refuses malformed records, users and roles', async () => {
    const user = { id: 'u-1', username: 'alice', roles: ['customer'] };
    const refused = [
      [SessionRpc.create, { record: { digest: 'short', user, attributes: {} } }],
      [SessionRpc.create, { record: { digest: 'D'.repeat(22), user: { ...user, roles: [1] } } }],
      [SessionRpc.list, { userId: { $ne: '' } }],
      [SessionRpc.setRoles, { userId: 'u-1', roles: 'admin' }],
      [SessionRpc.revokeAll, { userId: 'u-1', exceptId: 'garbage' }],
    ] as const;
    for (const [pattern, payload] of refused) {
      await expect(send(pattern, payload)).rejects.toMatchObject({
        message: expect.stringMatching(/^Malformed session request/),
      });
    }
  });
});
