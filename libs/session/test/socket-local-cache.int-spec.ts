import type { IncomingMessage } from 'node:http';
import { performance } from 'node:perf_hooks';

import { Test } from '@nestjs/testing';

import { SessionModule, SessionService, SessionSocket, SessionSockets } from '../src';
import { REDIS_URL, sessionService, until, uniquePrefix } from './store-contract';

jest.setTimeout(60_000);

/** A socket whose `close` can start something at the very moment the module closes it. */
class WitnessSocket {
  readyState = 1;
  closedWith?: { code?: number; reason?: string };
  private readonly onClose: (() => void)[] = [];

  readonly sent: string[] = [];

  constructor(private readonly closing?: () => void) {}

  send(data: string): void {
    this.sent.push(data);
  }

  close(code?: number, reason?: string): void {
    if (this.readyState !== 1) return;
    this.closedWith = { code, reason };
    this.readyState = 3;
    this.closing?.();
    for (const listener of this.onClose.splice(0)) listener();
  }

  once(_event: 'close', listener: () => void): void {
    this.onClose.push(listener);
  }
}

const bearer = (token: string) =>
  ({ headers: { authorization: `Bearer ${token}` } }) as unknown as IncomingMessage;

const TRIALS = 20;

/**
 * `SessionSockets` and the local cache follow the lifecycle stream on readers of their own, so
 * one may hear of a change before the other. A connection that opens at the moment the sockets
 * have heard of it (here: when they close another connection of the session) must not be
 * admitted from the cache's copy of the session as it was before the change.
 */
describe('SessionSockets with a local cache (real Redis, the change made by another service)', () => {
  const keyPrefix = uniquePrefix();
  let sessions: SessionService;
  let sockets: SessionSockets;
  let closeHolder: () => Promise<void>;
  let other: Awaited<ReturnType<typeof sessionService>>;

  beforeAll(async () => {
    const moduleRef = await Test.createTestingModule({
      imports: [
        SessionModule.forRoot({
          redis: { url: REDIS_URL },
          keyPrefix,
          maxSessionsPerUser: 0,
          localCache: { ttl: 60 },
          // Far off: what closes a socket within a test is the events.
          sockets: { checkInterval: 300 },
        }),
      ],
    }).compile();
    await moduleRef.init();
    sessions = moduleRef.get(SessionService);
    sockets = moduleRef.get(SessionSockets);
    closeHolder = () => moduleRef.close();
    other = await sessionService({ redis: { url: REDIS_URL }, keyPrefix, maxSessionsPerUser: 0 });
  });

  afterAll(async () => {
    await closeHolder?.();
    await other?.close();
  });

  /** Resolves once the holder has read every event appended before the call. */
  async function caughtUp(): Promise<void> {
    const marker = await other.sessions.create({ id: 'u-marker', username: 'marker', roles: [] });
    const socket = new WitnessSocket();
    await sockets.authenticate(socket as unknown as SessionSocket, bearer(marker.token));
    await other.sessions.revoke(marker.session.id);
    await until(() => socket.readyState !== 1);
  }

  const endings = {
    revoke: (id: string) => other.sessions.revoke(id),
    revokeAllForUser: (_id: string, userId: string) => other.sessions.revokeAllForUser(userId),
    rotate: (_id: string, _userId: string, token: string) => other.sessions.rotate(token),
  };

  it.each(Object.keys(endings) as Array<keyof typeof endings>)(
    `refuses a handshake that begins as the sockets hear of %s, over ${TRIALS} trials`,
    async (kind) => {
      const admitted: number[] = [];
      for (let trial = 0; trial < TRIALS; trial++) {
        const user = { id: `u-${kind}-${trial}`, username: 'racer', roles: ['customer'] };
        const { token, session } = await other.sessions.create(user);
        const late = new WitnessSocket();
        let handshake: Promise<unknown> | undefined;
        const witness = new WitnessSocket(() => {
          handshake = sockets.authenticate(late as unknown as SessionSocket, bearer(token));
        });
        // The cache holds the session, as it would for a user active in this service.
        expect(await sessions.validate(token)).not.toBeNull();
        await sockets.authenticate(witness as unknown as SessionSocket, bearer(token));
        await endings[kind](session.id, user.id, token);
        await until(() => handshake !== undefined);
        await handshake;
        await caughtUp();
        if (late.readyState === 1) admitted.push(trial);
        late.close();
      }
      expect(admitted).toEqual([]);
    },
  );

  it(`closes a subscription admitted as the sockets hear its role was taken, over ${TRIALS} trials`, async () => {
    const admitted: number[] = [];
    for (let trial = 0; trial < TRIALS; trial++) {
      const user = { id: `u-roles-${trial}`, username: 'racer', roles: ['admin', 'customer'] };
      const { token } = await other.sessions.create(user);
      const request = bearer(token);
      const late = new WitnessSocket();
      const lateRequest = bearer(token);
      let subscription: Promise<void> | undefined;
      // What `SessionGuard` does for a subscription with `@Roles('admin')` on that connection.
      const subscribe = async () => {
        await sockets.authenticate(late as unknown as SessionSocket, lateRequest);
        const since = performance.now();
        const validated = await sessions.validate(token);
        if (validated?.roles.includes('admin')) {
          sockets.holdRoles(lateRequest, ['admin'], since);
        } else {
          late.close();
        }
      };
      const witness = new WitnessSocket(() => {
        subscription = subscribe();
      });
      expect(await sessions.validate(token)).not.toBeNull();
      await sockets.authenticate(witness as unknown as SessionSocket, request);
      sockets.holdRoles(request, ['admin'], performance.now());
      await other.sessions.setRolesForUser(user.id, ['customer']);
      await until(() => subscription !== undefined);
      await subscription;
      await caughtUp();
      expect(witness.closedWith?.code).toBe(4403);
      if (late.readyState === 1) admitted.push(trial);
      late.close();
    }
    expect(admitted).toEqual([]);
  });
});
