import { get, IncomingMessage } from 'node:http';

import { Controller, INestApplication, Injectable, Req, Sse, Type } from '@nestjs/common';
import { APP_GUARD } from '@nestjs/core';
import { FastifyAdapter } from '@nestjs/platform-fastify';
import { Test } from '@nestjs/testing';
import { defer, finalize, interval, map } from 'rxjs';

import {
  CurrentSession,
  CurrentUser,
  Public,
  Roles,
  Session,
  SessionGuard,
  SessionModule,
  SessionRequest,
  SessionService,
  SessionSockets,
  SessionStore,
  SessionUser,
} from '../src';
import { RedisServerProcess, startRedisServer } from '../src/testing';
import { admin, alice, refOf, sleep, uniquePrefix, until } from './store-contract';

jest.setTimeout(30_000);

const CHECK_INTERVAL_S = 0.5;

/** How long `HeldGuard` and the slow route wait: a slow store or route, without relying on timing. */
const HOLD_MS = 150;

/** Producers of the fixture's streams still subscribed: a stream that ended must drop its own. */
let producing = 0;

const ticks = (label: string) =>
  defer(() => {
    producing++;
    return interval(20).pipe(
      map((i) => ({ data: { i, label } })),
      finalize(() => producing--),
    );
  });

@Controller('feed')
class FeedController {
  @Sse('mine')
  mine(@CurrentUser() user: SessionUser) {
    return ticks(user.username);
  }

  @Roles('admin')
  @Sse('admin')
  adminOnly() {
    return ticks('admin');
  }

  /** Answers only after `HOLD_MS`, as a route that reads something first would. */
  @Sse('slow')
  async slow(@CurrentUser() user: SessionUser) {
    await sleep(HOLD_MS);
    return ticks(user.username);
  }

  /** Each tick: the roles on the request's session, and on the session the route was handed. */
  @Sse('roles')
  roles(@Req() request: SessionRequest, @CurrentSession() session: Session) {
    return defer(() => {
      producing++;
      return interval(20).pipe(
        map(() => ({ data: { request: request.session?.roles, handed: session.roles } })),
        finalize(() => producing--),
      );
    });
  }

  @Public()
  @Sse('public')
  open() {
    return ticks('public');
  }
}

/** A guard whose validation answers `HOLD_MS` after the store did. */
@Injectable()
class HeldGuard extends SessionGuard {
  protected override async validate(token: string): Promise<Session | null> {
    const session = await super.validate(token);
    await sleep(HOLD_MS);
    return session;
  }
}

interface Stream {
  status: number;
  /** The events received so far, as they arrive. */
  events: { event: string; data: unknown }[];
  /** Resolves with the events received once the response ended or the connection closed. */
  ended: Promise<{ events: { event: string; data: unknown }[] }>;
  /** Resolves once `count` message events arrived. */
  received(count: number): Promise<void>;
  abort(): void;
}

/** A raw server-sent events client: what EventSource would see, without its reconnects. */
function openStream(base: string, path: string, token?: string): Promise<Stream> {
  return new Promise((resolve, reject) => {
    const request = get(
      `${base}${path}`,
      { headers: token ? { authorization: `Bearer ${token}`, accept: 'text/event-stream' } : {} },
      (response: IncomingMessage) => {
        const events: { event: string; data: unknown }[] = [];
        const waiting: { count: number; done: () => void }[] = [];
        let buffer = '';
        response.setEncoding('utf8');
        response.on('data', (chunk: string) => {
          buffer += chunk;
          for (let end = buffer.indexOf('\n\n'); end >= 0; end = buffer.indexOf('\n\n')) {
            const block = buffer.slice(0, end);
            buffer = buffer.slice(end + 2);
            const fields = Object.fromEntries(
              block
                .split('\n')
                .filter((line) => line.includes(':') && !line.startsWith(':'))
                .map((line) => [
                  line.slice(0, line.indexOf(':')),
                  line.slice(line.indexOf(':') + 1).trim(),
                ]),
            );
            if (fields['data'] !== undefined) {
              events.push({
                event: fields['event'] ?? 'message',
                data: JSON.parse(fields['data']),
              });
            }
          }
          const messages = events.filter((e) => e.event === 'message').length;
          for (const waiter of waiting.filter((w) => messages >= w.count)) {
            waiting.splice(waiting.indexOf(waiter), 1);
            waiter.done();
          }
        });
        const ended = new Promise<{ events: typeof events }>((done) => {
          const finish = () => done({ events });
          response.once('end', finish);
          response.once('close', finish);
          response.once('error', finish);
        });
        resolve({
          status: response.statusCode ?? 0,
          events,
          ended,
          received: (count) =>
            new Promise((done) => {
              if (events.filter((e) => e.event === 'message').length >= count) done();
              else waiting.push({ count, done });
            }),
          abort: () => request.destroy(),
        });
      },
    );
    request.on('error', reject);
  });
}

const adapters = [
  ['Express', () => undefined],
  ['Fastify', () => new FastifyAdapter()],
] as const;

describe.each(adapters)('SessionGuard on server-sent events (%s)', (_name, adapter) => {
  let server: RedisServerProcess;
  let app: INestApplication;
  let base: string;
  let sessions: SessionService;
  let sockets: SessionSockets;
  const open: Stream[] = [];
  const keyPrefix = uniquePrefix();

  /** Sockets are checked against the store every 30 s (the default) unless said otherwise. */
  async function fixtureApp(
    checkInterval: number,
    guard: Type<SessionGuard> = SessionGuard,
    maxStreamsPerUser?: number,
  ): Promise<INestApplication> {
    const moduleRef = await Test.createTestingModule({
      imports: [
        SessionModule.forRoot({
          redis: { url: server.url },
          keyPrefix,
          maxSessionsPerUser: 0,
          sockets: { checkInterval, maxStreamsPerUser },
        }),
      ],
      controllers: [FeedController],
      providers: [{ provide: APP_GUARD, useClass: guard }],
    }).compile();
    const made = adapter();
    const fixture = made
      ? moduleRef.createNestApplication(made, { logger: false })
      : moduleRef.createNestApplication({ logger: false });
    await fixture.listen(0, '127.0.0.1');
    return fixture;
  }

  const baseOf = (fixture: INestApplication) =>
    `http://127.0.0.1:${(fixture.getHttpServer().address() as { port: number }).port}`;

  const stream = async (path: string, token?: string, at = base) => {
    const opened = await openStream(at, path, token);
    open.push(opened);
    return opened;
  };

  /** A stream that ended because its session did: the last event says why, nothing follows. */
  const endedBy = async (opened: Stream, status: 401 | 403) => {
    const { events } = await opened.ended;
    expect(events.at(-1)).toEqual({
      event: 'session-ended',
      data: { status, reason: expect.any(String) },
    });
  };

  beforeAll(async () => {
    server = await startRedisServer();
    app = await fixtureApp(30);
    base = baseOf(app);
    sessions = app.get(SessionService);
    sockets = app.get(SessionSockets);
  });

  afterEach(async () => {
    for (const opened of open.splice(0)) opened.abort();
    // Every stream gone, ended by its session or by its client, dropped its producer.
    await until(() => producing === 0);
  });

  afterAll(async () => {
    await app?.close();
    await server?.dispose();
  });

  it('answers 401 without a session or with a dead one, 403 without the role, and streams otherwise', async () => {
    const { token, session } = await sessions.create(alice);
    expect((await stream('/feed/mine')).status).toBe(401);
    expect((await stream('/feed/admin', token)).status).toBe(403);
    const live = await stream('/feed/mine', token);
    expect(live.status).toBe(200);
    await live.received(3);
    expect((await stream('/feed/public')).status).toBe(200);
    await sessions.revoke(session.id);
    expect((await stream('/feed/mine', token)).status).toBe(401);
  });

  it("ends a stream with a last session-ended event when its session is revoked, drops its producer, and leaves another session's stream open", async () => {
    const victim = await sessions.create(alice);
    const bystander = await sessions.create(alice);
    const ending = await stream('/feed/mine', victim.token);
    const staying = await stream('/feed/mine', bystander.token);
    const anonymous = await stream('/feed/public');
    await Promise.all([ending.received(2), staying.received(2), anonymous.received(2)]);
    expect(producing).toBe(3);

    await sessions.revoke(victim.session.id);
    await endedBy(ending, 401);
    await until(() => producing === 2);
    const { events } = await ending.ended;
    const seen = events.length;
    await staying.received(seen + 5);
    expect(events).toHaveLength(seen);
  });

  it('ends the streams of a user on revokeAllForUser but the spared one, and every stream but the spared on revokeEverything', async () => {
    const user = { id: 'u-streams', username: 'streams', roles: ['customer'] };
    const [first, second, spared] = await Promise.all([1, 2, 3].map(() => sessions.create(user)));
    const other = await sessions.create(alice);
    const streams = await Promise.all(
      [first, second, spared, other].map(({ token }) => stream('/feed/mine', token)),
    );
    await Promise.all(streams.map((opened) => opened.received(1)));
    await sessions.revokeAllForUser(user.id, { except: spared.session.id });
    await Promise.all(streams.slice(0, 2).map((opened) => endedBy(opened, 401)));
    await streams[2].received(5);
    await streams[3].received(5);

    await sessions.revokeEverything({ except: spared.session.id });
    await endedBy(streams[3], 401);
    const { events } = await streams[3].ended;
    await streams[2].received(events.length + 5);
  });

  it('ends a stream whose session was rotated (its token is dead)', async () => {
    const { token } = await sessions.create(alice);
    const opened = await stream('/feed/mine', token);
    await opened.received(1);
    await sessions.rotate(token, { reauthenticated: true });
    await endedBy(opened, 401);
  });

  it('ends a @Roles stream with 403 when the role is taken away, and keeps a stream that needs none', async () => {
    const user = { id: 'u-demoted', username: 'demoted', roles: ['admin', 'customer'] };
    const { token } = await sessions.create(user);
    const adminStream = await stream('/feed/admin', token);
    const plain = await stream('/feed/mine', token);
    await Promise.all([adminStream.received(1), plain.received(1)]);
    await sessions.setRolesForUser(user.id, ['customer']);
    await endedBy(adminStream, 403);
    await plain.received(10);
    // Granting a role back does not reopen anything, and another admin's stream is untouched.
    const other = await sessions.create(admin);
    const otherStream = await stream('/feed/admin', other.token);
    await otherStream.received(1);
    await sessions.setRolesForUser(user.id, ['admin', 'customer']);
    await otherStream.received(5);
  });

  it('gives the request of an open stream, and the session its route was handed, each role change, and ends it when revoked', async () => {
    const user = { id: 'u-regraded', username: 'regraded', roles: ['admin', 'customer'] };
    const { token, session } = await sessions.create(user);
    const opened = await stream('/feed/roles', token);
    await opened.received(1);
    const seen = () =>
      opened.events
        .filter(({ event }) => event === 'message')
        .map(({ data }) => data as { request: string[]; handed: string[] });
    const both = (roles: string[]) => ({ request: roles, handed: roles });
    expect(seen()[0]).toEqual(both(['admin', 'customer']));

    // From the first tick that shows a change on, every tick shows it, on both.
    for (const roles of [['customer'], ['auditor', 'customer']]) {
      await sessions.setRolesForUser(user.id, roles);
      await until(() => seen().some((tick) => tick.request.join() === roles.join()));
      const from = seen().findIndex((tick) => tick.request.join() === roles.join());
      await opened.received(from + 5);
      expect(seen().slice(from, from + 5)).toEqual(Array(5).fill(both(roles)));
    }

    await sessions.revoke(session.id);
    await endedBy(opened, 401);
  });

  it('never leaves a stream open past a revocation that raced its opening (16 offsets)', async () => {
    const offsets = [0, 1, 2, 3, 4, 5, 6, 8, 10, 12, 15, 20, 25, 30, 40, 60];
    // The reader's start is a gap, whose check of the store ends streams too ('Session
    // ended'): once a change reached a stream as an event, and the check running then is
    // over, what ends a stream is an event.
    const bystander = { id: 'u-race-bystander', username: 'bystander', roles: ['customer'] };
    const watching = await stream('/feed/roles', (await sessions.create(bystander)).token);
    await watching.received(1);
    await sessions.setRolesForUser(bystander.id, ['auditor']);
    await until(() =>
      watching.events.some(({ data }) => (data as { request: string[] }).request[0] === 'auditor'),
    );
    await sockets.checkAll();
    let raced = 0;
    for (const offset of offsets) {
      const { token, session } = await sessions.create(alice);
      const [opened] = await Promise.all([
        stream('/feed/mine', token),
        sleep(offset).then(() => sessions.revoke(session.id)),
      ]);
      if (opened.status === 401) continue;
      expect(opened.status).toBe(200);
      raced++;
      // Held: the ledger had no word of the revocation when the stream was registered, so the
      // revocation's event ended it. The periodic check (30 s away) and a check after a gap in
      // the events find the session gone in the store and say 'Session ended'.
      const { events } = await opened.ended;
      expect(events.at(-1)).toEqual({
        event: 'session-ended',
        data: { status: 401, reason: 'Session revoked' },
      });
    }
    expect(raced).toBeGreaterThan(0);
  });

  it('ends a stream whose session was revoked while its validation was in flight (8 offsets)', async () => {
    const held = await fixtureApp(30, HeldGuard);
    const outcomes = new Set<number>();
    try {
      for (const offset of [0, 10, 20, 40, 60, 80, 100, 120]) {
        const { token, session } = await sessions.create(alice);
        const [opened] = await Promise.all([
          stream('/feed/mine', token, baseOf(held)),
          // The store has answered (alive) by then; the stream is held only after HOLD_MS.
          sleep(offset + 20).then(() => sessions.revoke(session.id)),
        ]);
        // Refused by the ledger of what arrived during the validation, or ended by the event.
        if (opened.status === 200) await endedBy(opened, 401);
        else expect(opened.status).toBe(401);
        outcomes.add(opened.status);
      }
      // Both sides of the window were really run.
      expect([...outcomes].sort()).toEqual([200, 401]);
    } finally {
      await held.close();
    }
  });

  it('answers 401 and subscribes to nothing when the session ends before the route answers', async () => {
    const { token, session } = await sessions.create(alice);
    const [opened] = await Promise.all([
      stream('/feed/slow', token),
      sleep(HOLD_MS / 3).then(() => sessions.revoke(session.id)),
    ]);
    expect(opened.status).toBe(401);
    const { events } = await opened.ended;
    expect(events).toEqual([]);
    // Nest found the response ended: the route's observable was never subscribed.
    await sleep(HOLD_MS);
    expect(producing).toBe(0);
  });

  it('ends within the periodic check a stream whose session vanished without an event', async () => {
    const checking = await fixtureApp(CHECK_INTERVAL_S);
    try {
      const { token } = await sessions.create(alice);
      const opened = await stream('/feed/mine', token, baseOf(checking));
      await opened.received(2);
      await sleep(300);
      // Behind SessionService's back: no lifecycle event is published.
      await checking.get<SessionStore>(SessionStore).revoke(refOf(token));
      await endedBy(opened, 401);
    } finally {
      await checking.close();
    }
  });

  it('holds at most sockets.maxStreamsPerUser streams of a user, every session counted: 429 past it', async () => {
    const capped = await fixtureApp(30, SessionGuard, 2);
    try {
      const at = baseOf(capped);
      const cappedSessions = capped.get(SessionService);
      const user = { id: 'u-streams', username: 'streams', roles: ['customer'] };
      const tokens = [
        (await cappedSessions.create(user)).token,
        (await cappedSessions.create(user)).token,
      ];
      // Eight at once, from two sessions of one user: the check and the hold are one step.
      const opened = await Promise.all(
        Array.from({ length: 8 }, (_, i) => stream('/feed/mine', tokens[i % 2], at)),
      );
      const statuses = opened.map(({ status }) => status).sort();
      expect(statuses).toEqual([200, 200, 429, 429, 429, 429, 429, 429]);
      // Another user is not held back by it.
      const other = await cappedSessions.create({ ...user, id: 'u-streams-other' });
      expect((await stream('/feed/mine', other.token, at)).status).toBe(200);
      // A stream its client closed frees its place.
      const [first] = opened.filter(({ status }) => status === 200);
      first.abort();
      await first.ended;
      await until(async () => {
        const next = await stream('/feed/mine', tokens[0], at);
        return next.status === 200;
      });
    } finally {
      for (const opened of open.splice(0)) opened.abort();
      await capped.close();
    }
  });

  it('lets go of a stream the client closed, and never pushes socket messages to streams', async () => {
    const user = { id: 'u-leaving', username: 'leaving', roles: ['customer'] };
    const { token } = await sessions.create(user);
    const held = sockets.size;
    const opened = await stream('/feed/mine', token);
    await opened.received(1);
    expect(sockets.size).toBe(held + 1);
    expect(sockets.socketsOf(user.id)).toEqual([]);
    opened.abort();
    await until(() => sockets.size === held);
  });
});
