import type { IncomingMessage } from 'node:http';

import { Test } from '@nestjs/testing';

import { sessionEventRef } from '../events/session-event.interface';
import type { SessionEventsItem } from '../events/session-events.reader';
import type { SessionRequest } from '../http/session-request.interface';
import { SessionEvents } from '../session.constants';
import { SessionModule } from '../session.module';
import { SessionService } from '../session.service';
import type { Session } from '../session.types';
import { InMemorySessionStore } from '../store/in-memory/in-memory-session.store';
import { parseToken, SessionRef } from '../token/session.token';
import type { SessionSocket } from './session-socket.interface';
import { patchedEvent } from '../../testing/session-fixtures';
import { SessionSockets } from './session-sockets.service';

class FakeSocket implements SessionSocket {
  readyState = 1;
  closedWith?: { code?: number; reason?: string };
  private readonly onClose: (() => void)[] = [];

  readonly sent: string[] = [];

  send(data: string): void {
    this.sent.push(data);
  }

  close(code?: number, reason?: string): void {
    this.closedWith ??= { code, reason };
    this.readyState = 3;
    for (const listener of this.onClose.splice(0)) listener();
  }

  once(_event: 'close', listener: () => void): void {
    this.onClose.push(listener);
  }
}

const ORIGIN = 'http://localhost:3000';

function refOf(token: string): SessionRef {
  const ref = parseToken(token);
  if (!ref) throw new Error('malformed token');
  return ref;
}
const upgrade = (headers: Record<string, string>) => ({ headers }) as unknown as IncomingMessage;
const alice = { id: 'u-alice', username: 'alice', roles: ['customer'] };

describe('SessionSockets', () => {
  let sockets: SessionSockets;
  let sessions: SessionService;
  let store: InMemorySessionStore;

  beforeEach(async () => {
    store = new InMemorySessionStore();
    const moduleRef = await Test.createTestingModule({
      imports: [
        SessionModule.forRoot({ store, allowedOrigins: [ORIGIN], sockets: { checkInterval: 60 } }),
      ],
    }).compile();
    sockets = moduleRef.get(SessionSockets);
    sessions = moduleRef.get(SessionService);
  });

  afterEach(() => sockets.onModuleDestroy());

  it('keeps the session and its token on the socket and registers it', async () => {
    const { token, session } = await sessions.create(alice);
    const client = new FakeSocket() as FakeSocket & SessionSocket;
    const accepted = await sockets.authenticate(
      client,
      upgrade({ cookie: `cr_session=${token}`, origin: ORIGIN }),
    );
    expect(accepted?.id).toBe(session.id);
    expect(client.session?.id).toBe(session.id);
    expect(client.sessionToken).toEqual({ token, source: 'cookie' });
    expect(sockets.socketsOf(alice.id)).toEqual([client]);
    client.close();
    expect(sockets.socketsOf(alice.id)).toEqual([]);
  });

  it.each([
    ['no token', () => ({})],
    ['a malformed token', () => ({ authorization: 'Bearer nope' })],
  ])('closes with 4401 a handshake with %s', async (_name, headers) => {
    const client = new FakeSocket();
    await expect(sockets.authenticate(client, upgrade(headers()))).resolves.toBeNull();
    expect(client.closedWith).toEqual({ code: 4401, reason: 'Authentication required' });
    expect(sockets.size).toBe(0);
  });

  it.each([
    ['a foreign Origin', { origin: 'https://evil.example' }],
    ['no Origin', {}],
    ['Origin null', { origin: 'null' }],
  ])('refuses a cookie handshake with %s, before any store call', async (_name, headers) => {
    const { token } = await sessions.create(alice);
    const validate = jest.spyOn(sessions, 'validate');
    const client = new FakeSocket();
    await sockets.authenticate(client, upgrade({ cookie: `cr_session=${token}`, ...headers }));
    expect(client.closedWith).toEqual({ code: 4401, reason: 'Origin not allowed' });
    expect(validate).not.toHaveBeenCalled();
  });

  it('closes with 1013 when the store does not answer, without rejecting', async () => {
    const { token } = await sessions.create(alice);
    store.failing = true;
    const client = new FakeSocket();
    await expect(
      sockets.authenticate(client, upgrade({ authorization: `Bearer ${token}` })),
    ).resolves.toBeNull();
    expect(client.closedWith?.code).toBe(1013);
  });

  it('closes a socket whose session ended while its handshake was validating', async () => {
    const { token, session } = await sessions.create(alice);
    let release!: (value: Session | null) => void;
    jest
      .spyOn(sessions, 'validate')
      .mockReturnValueOnce(new Promise<Session | null>((resolve) => (release = resolve)));
    const client = new FakeSocket();
    const handshake = sockets.authenticate(client, upgrade({ authorization: `Bearer ${token}` }));
    sockets['applyEvent']({
      id: '1-0',
      at: Date.now(),
      type: SessionEvents.revoked,
      actor: null,
      userId: alice.id,
      sessionRef: sessionEventRef(session.id),
    });
    release(session);
    await expect(handshake).resolves.toBeNull();
    expect(client.closedWith?.code).toBe(4401);
    expect(sockets.size).toBe(0);
  });

  it('does not register a socket the client closed during the handshake', async () => {
    const { token } = await sessions.create(alice);
    const client = new FakeSocket();
    const handshake = sockets.authenticate(client, upgrade({ authorization: `Bearer ${token}` }));
    client.close(1000);
    await expect(handshake).resolves.toBeNull();
    expect(sockets.size).toBe(0);
  });

  it('asks the store again for a subscription validated before a gap in the events', async () => {
    const { token } = await sessions.create(alice);
    const client = new FakeSocket();
    const request = upgrade({ authorization: `Bearer ${token}` });
    await sockets.authenticate(client, request);
    // A subscription's validation begins; the role goes with no event the ledger hears of,
    // then the events have a gap (its check finds no subscription that needs the role yet).
    const since = performance.now();
    await store.setRoles(alice.id, ['clerk']);
    const gapChecked = sockets.checkAll();
    (sockets as unknown as { apply(item: SessionEventsItem): void }).apply({
      kind: 'gap',
      reason: 'start',
      lastId: '0-0',
    });
    await gapChecked;
    expect(client.closedWith).toBeUndefined();
    // What a gateway reads before it pushes: the store's roles.
    expect((client as FakeSocket & SessionSocket).session?.roles).toEqual(['clerk']);

    sockets.holdRoles(request, ['customer'], since);
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(client.closedWith).toEqual({ code: 4403, reason: 'Role removed' });
  });

  it("takes a role change's roles when it was made, and asks the store when its write failed", async () => {
    const { token } = await sessions.create(alice);
    const client = new FakeSocket() as FakeSocket & SessionSocket;
    await sockets.authenticate(client, upgrade({ authorization: `Bearer ${token}` }));
    const rolesChanged = (id: string, roles?: string[]) =>
      sockets['applyEvent']({
        id,
        at: Date.now(),
        type: SessionEvents.rolesChanged,
        actor: null,
        userId: alice.id,
        ...(roles && { roles }),
      });

    rolesChanged('1-0', ['clerk']);
    expect(client.session?.roles).toEqual(['clerk']);

    // A failed write's event has no roles: the socket gets the store's, whatever it held.
    await store.setRoles(alice.id, ['customer']);
    rolesChanged('2-0');
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(client.session?.roles).toEqual(['customer']);
  });

  it("gives a subscription's request the roles of a change made while it was validating", async () => {
    const { token } = await sessions.create({ ...alice, roles: ['customer', 'admin'] });
    const client = new FakeSocket() as FakeSocket & SessionSocket;
    const request = upgrade({ authorization: `Bearer ${token}` }) as IncomingMessage &
      SessionRequest;
    await sockets.authenticate(client, request);
    // A subscription with @Roles('customer', 'admin') is validating when admin is taken away;
    // then the guard attaches what the store answered before the change.
    const since = performance.now();
    const validated = await sessions.validate(token);
    sockets['applyEvent']({
      id: '1-0',
      at: Date.now(),
      type: SessionEvents.rolesChanged,
      actor: null,
      userId: alice.id,
      roles: ['customer'],
    });
    request.session = validated ?? undefined;
    sockets.holdRoles(request, ['customer', 'admin'], since);

    expect(client.closedWith).toBeUndefined();
    // What the subscription's filter reads from then on.
    expect(request.session?.roles).toEqual(['customer']);
    expect(client.session?.roles).toEqual(['customer']);
  });

  it('leaves a socket open, its session as it was, when its session is patched', async () => {
    const { token, session } = await sessions.create(alice);
    const client = new FakeSocket() as FakeSocket & SessionSocket;
    await sockets.authenticate(client, upgrade({ authorization: `Bearer ${token}` }));
    const held = client.session;
    const checkAll = jest.spyOn(sockets, 'checkAll');
    (sockets as unknown as { apply(item: SessionEventsItem): void }).apply(
      patchedEvent(session.id),
    );
    expect(client.closedWith).toBeUndefined();
    expect(client.session).toBe(held);
    expect(sockets.socketsOf(alice.id)).toEqual([client]);
    // Not a gap: the store is not asked for every socket's session.
    expect(checkAll).not.toHaveBeenCalled();
  });

  it('closes on checkAll the sockets whose session the store no longer holds', async () => {
    const gone = await sessions.create(alice);
    const kept = await sessions.create(alice);
    const [a, b] = [new FakeSocket(), new FakeSocket()];
    await sockets.authenticate(a, upgrade({ authorization: `Bearer ${gone.token}` }));
    await sockets.authenticate(b, upgrade({ authorization: `Bearer ${kept.token}` }));
    await store.revoke(refOf(gone.token));
    await sockets.checkAll();
    expect(a.closedWith).toEqual({ code: 4401, reason: 'Session ended' });
    expect(b.closedWith).toBeUndefined();
  });

  it('gives liveSocketsOf only sockets whose session is live now, closing the others', async () => {
    const gone = await sessions.create(alice);
    const kept = await sessions.create(alice);
    const unread = await sessions.create(alice);
    const [a, b, c, d] = [new FakeSocket(), new FakeSocket(), new FakeSocket(), new FakeSocket()];
    await sockets.authenticate(a, upgrade({ authorization: `Bearer ${gone.token}` }));
    await sockets.authenticate(b, upgrade({ authorization: `Bearer ${kept.token}` }));
    await sockets.authenticate(c, upgrade({ authorization: `Bearer ${kept.token}` }));
    await sockets.authenticate(d, upgrade({ authorization: `Bearer ${unread.token}` }));
    // Ended behind the service's back: no event, the socket still listed.
    await store.revoke(refOf(gone.token));
    const get = sessions.get.bind(sessions);
    jest.spyOn(sessions, 'get').mockImplementation((id) => {
      if (id === unread.session.id) return Promise.reject(new Error('store down'));
      return get(id);
    });
    const validate = jest.spyOn(sessions, 'validate');
    expect(sockets.socketsOf(alice.id)).toHaveLength(4);

    expect(await sockets.liveSocketsOf(alice.id)).toEqual([b, c]);
    expect(a.closedWith).toEqual({ code: 4401, reason: 'Session ended' });
    expect(d.closedWith?.code).toBe(1013);
    expect(b.closedWith).toBeUndefined();
    expect(sockets.socketsOf(alice.id)).toEqual([b, c]);
    // One read per session, sliding no idle timeout.
    expect(sessions.get).toHaveBeenCalledTimes(3);
    expect(validate).not.toHaveBeenCalled();
  });

  it('does not slide the idle timeout in its periodic check', async () => {
    const { token } = await sessions.create(alice);
    await sockets.authenticate(new FakeSocket(), upgrade({ authorization: `Bearer ${token}` }));
    const validate = jest.spyOn(sessions, 'validate');
    await sockets.checkAll();
    expect(validate).not.toHaveBeenCalled();
  });
});

describe('SessionSockets, sockets per user', () => {
  let sockets: SessionSockets;
  let sessions: SessionService;

  beforeEach(async () => {
    const moduleRef = await Test.createTestingModule({
      imports: [
        SessionModule.forRoot({
          store: new InMemorySessionStore(),
          sockets: { checkInterval: 60, maxPerUser: 2 },
        }),
      ],
    }).compile();
    sockets = moduleRef.get(SessionSockets);
    sessions = moduleRef.get(SessionService);
  });

  afterEach(() => sockets.onModuleDestroy());

  const open = async (token: string) => {
    const client = new FakeSocket();
    const session = await sockets.authenticate(
      client,
      upgrade({ authorization: `Bearer ${token}` }),
    );
    return { client, session };
  };

  it('closes with 1008 a handshake past maxPerUser, counting every session of the user, and takes one again once one closes', async () => {
    const first = await sessions.create(alice);
    const second = await sessions.create(alice);
    const a = await open(first.token);
    const b = await open(second.token);
    const refused = await open(first.token);
    expect([a.session?.id, b.session?.id]).toEqual([first.session.id, second.session.id]);
    expect(refused.session).toBeNull();
    expect(refused.client.closedWith).toEqual({ code: 1008, reason: 'Too many sockets' });
    expect(sockets.socketsOf(alice.id)).toEqual([a.client, b.client]);
    // Another user has an allowance of their own.
    const bob = await sessions.create({ id: 'u-bob', username: 'bob', roles: [] });
    expect((await open(bob.token)).session).not.toBeNull();
    a.client.close();
    const again = await open(first.token);
    expect(again.session?.id).toBe(first.session.id);
    expect(again.client.closedWith).toBeUndefined();
  });

  it('does not count a socket that is closing', async () => {
    const { token } = await sessions.create(alice);
    const a = await open(token);
    await open(token);
    // What `ws` reports between its close frame and the connection's end.
    a.client.readyState = 2;
    expect((await open(token)).session).not.toBeNull();
  });

  it('lets exactly maxPerUser of many handshakes validating at once through', async () => {
    const { token } = await sessions.create(alice);
    const opened = await Promise.all(Array.from({ length: 8 }, () => open(token)));
    expect(opened.filter(({ session }) => session).length).toBe(2);
    expect(opened.filter(({ client }) => client.closedWith?.code === 1008).length).toBe(6);
    expect(sockets.socketsOf(alice.id)).toHaveLength(2);
  });
});
