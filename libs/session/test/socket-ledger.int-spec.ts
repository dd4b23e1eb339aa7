import type { IncomingMessage } from 'node:http';

import { Test, TestingModule } from '@nestjs/testing';

import { SessionModule, SessionService, SessionSocket, SessionSockets } from '../src';
import type { Session } from '../src';
import { RecentChangesLedger } from '../src/lib/ws/recent-changes.ledger';
import { REDIS_URL as url, sleep, uniquePrefix, until } from './store-contract';

jest.setTimeout(60_000);

/** Sessions revoked per simulated minute. */
const PER_MINUTE = 100;

class FakeSocket implements SessionSocket {
  readyState = 1;
  private readonly onClose: (() => void)[] = [];

  send(): void {
    // Nothing is pushed in this test.
  }

  close(): void {
    this.readyState = 3;
    for (const listener of this.onClose.splice(0)) listener();
  }

  once(_event: 'close', listener: () => void): void {
    this.onClose.push(listener);
  }
}

const bearer = (token: string) =>
  ({ headers: { authorization: `Bearer ${token}` } }) as unknown as IncomingMessage;

/**
 * `SessionSockets` starts following the lifecycle stream when its first socket registers, and
 * follows it for the rest of the process: every session any service revokes is recorded in its
 * ledger of recent changes (for the handshakes in flight), whether or not a socket is open.
 */
describe('SessionSockets (real Redis)', () => {
  let moduleRef: TestingModule;
  let skewMs = 0;

  afterEach(async () => {
    jest.restoreAllMocks();
    await moduleRef?.close();
  });

  it('forgets the changes it heard more than a minute ago while no socket is open', async () => {
    // The ledger keeps a change for a minute (this process's monotonic clock): minutes pass
    // here by moving that clock, not by waiting.
    const realNow = performance.now.bind(performance);
    jest.spyOn(performance, 'now').mockImplementation(() => realNow() + skewMs);
    moduleRef = await Test.createTestingModule({
      imports: [
        SessionModule.forRoot({ redis: { url }, keyPrefix: uniquePrefix(), maxSessionsPerUser: 0 }),
      ],
    }).compile();
    await moduleRef.init();
    const sessions = moduleRef.get(SessionService);
    const sockets = moduleRef.get(SessionSockets);
    const ledger = (sockets as unknown as { ledger: RecentChangesLedger }).ledger;
    // Ended at or after the start of this process's (monotonic) clock: heard at all.
    const heard = (session: Session) => ledger.endedSince(0, session);
    let users = 0;
    const revokeOne = async () => {
      const { session } = await sessions.create({
        id: `u-${users++}`,
        username: 'churn',
        roles: ['customer'],
      });
      await sessions.revoke(session.id);
      return session;
    };

    // One socket, closed at once: the stream is followed from then on.
    const { token } = await sessions.create({ id: 'u-socket', username: 'sol', roles: [] });
    const client = new FakeSocket();
    expect(await sockets.authenticate(client, bearer(token))).not.toBeNull();
    client.close();
    expect(sockets.size).toBe(0);
    // The reader begins at the stream's end once connected: a revocation before that is unheard.
    await until(async () => {
      const probe = await revokeOne();
      await sleep(50);
      return heard(probe);
    });

    const sizes: number[] = [];
    for (let minute = 0; minute < 5; minute++) {
      const revoked = await Promise.all(Array.from({ length: PER_MINUTE }, revokeOne));
      await until(() => revoked.every(heard));
      sizes.push(ledger.size);
      skewMs += 61_000;
    }
    // Five minutes of revocations, and at most the last minute's are still held.
    expect(sizes.at(-1)).toBeLessThanOrEqual(PER_MINUTE);
  });
});
