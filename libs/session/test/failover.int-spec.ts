import { randomBytes } from 'node:crypto';

import { Logger } from '@nestjs/common';

import { SessionService, SessionStoreUnavailableError } from '../src';
import { RedisServerProcess } from '../src/testing';
import { startTcpRelay, TcpRelay } from '../src/testing/tcp-relay';
import {
  forceFailover,
  SentinelServices,
  startNode,
  startReplica,
  startSentinelServices,
  until,
  untilDurableWritesWork,
  untilSentinelsKnow,
} from './sentinel-failover';
import { uniquePrefix } from './store-contract';

/**
 * Durable revocations through a real failover: a primary, a replica that replicates through a
 * relay the test can hold (replication lags) and sever (what was in flight is lost, as when a
 * host dies), and three Sentinels. Each trial revokes, crashes the primary (SIGKILL), has a
 * Sentinel promote the replica, reconnects through the Sentinels and checks what survived.
 *
 * - durable (`durability: { replicas: 1 }`): a revocation, rotation or role change answered
 *   success holds on the promoted replica; one made while the replica lags answers 503 — and
 *   is indeed lost, a rotation leaving the holder's old token working and no orphan session.
 * - plain (no durability), the control: a revocation made while the replica lags answers
 *   success, and the failover brings the session back.
 */
const TRIALS = 10;
// A name of this run's own: Sentinels find each other by the monitored name, so a Sentinel left
// running by an earlier, killed run can never join (and sway) this run's quorum.
const NAME = `cloakroom-${randomBytes(4).toString('hex')}`;

jest.setTimeout(180_000);

describe('durable revocations across a Sentinel failover', () => {
  const prefix = uniquePrefix();
  let primary: RedisServerProcess;
  let replica: RedisServerProcess;
  let link: TcpRelay;
  let services: SentinelServices;

  beforeAll(async () => {
    primary = await startNode();
    ({ replica, link } = await startReplicaOf(primary));
    services = await startSentinelServices(primary, NAME, {
      keyPrefix: prefix,
      storeTimeout: 1,
      maxSessionsPerUser: 0,
    });
  });

  afterAll(async () => {
    await services?.close();
    await link?.sever().catch(() => undefined);
    await Promise.all(
      [primary, replica].map((process) => process?.dispose().catch(() => undefined)),
    );
  });

  it(`keeps every acknowledged revocation through ${TRIALS} crashes of the primary`, async () => {
    const warn = jest.spyOn(Logger.prototype, 'warn');
    const warnings = () => warn.mock.calls.map((args) => args.map(String).join(' '));
    const lagWarnings = () => warnings().filter((message) => /replicas lag/.test(message));
    const { sentinels, durable, plain } = services;
    const outcomes: string[] = [];
    for (let trial = 1; trial <= TRIALS; trial++) {
      await untilDurableWritesWork(durable);
      await untilSentinelsKnow(sentinels, replica, NAME);
      const user = (name: string) => ({ id: `u-${trial}-${name}`, username: name, roles: ['x'] });
      const token = async (name: string) => (await plain.create(user(name))).token;
      const loggedOut = await token('logout');
      const others = [await token('all'), await token('all')];
      const lagging = await token('lagging');
      const control = await token('control');
      const kept = await token('kept');
      const rotating = await token('rotating');
      await token('demoted');
      const rotatingLagging = await token('rotating-lagging');
      const demotedLagging = await token('demoted-lagging');

      // The replica acknowledges: the revocations succeed (and are on the replica), and so do
      // a rotation (its old token dies) and a role change.
      expect(await durable.revoke(loggedOut)).toBe(true);
      expect(await durable.revokeAllForUser(`u-${trial}-all`)).toBe(2);
      const rotated = await durable.rotate(rotating);
      expect(rotated).not.toBeNull();
      expect(await durable.setRolesForUser(`u-${trial}-demoted`, ['y'])).toBe(1);

      // The replica lags: a durable revocation answers 503, a plain one success. One warning
      // for the episode, however many revocations it refuses. (Counted per episode: the probe
      // above may itself meet a replica still catching up on a busy machine, an episode of its
      // own that ended before this one.)
      const lagWarningsBefore = lagWarnings().length;
      link.hold();
      await expect(durable.revoke(lagging)).rejects.toBeInstanceOf(SessionStoreUnavailableError);
      await expect(durable.revoke(lagging)).rejects.toBeInstanceOf(SessionStoreUnavailableError);
      await expect(durable.rotate(rotatingLagging)).rejects.toBeInstanceOf(
        SessionStoreUnavailableError,
      );
      await expect(
        durable.setRolesForUser(`u-${trial}-demoted-lagging`, ['y']),
      ).rejects.toBeInstanceOf(SessionStoreUnavailableError);
      expect(lagWarnings().length - lagWarningsBefore).toBe(1);
      expect(await plain.revoke(control)).toBe(true);

      // The primary's host dies with the replication stream in flight; Sentinel promotes.
      await primary.stop();
      await link.sever();
      await forceFailover(sentinels[0], replica, NAME);
      await untilValid(plain, kept);

      const alive = async (t: string) => (await plain.validate(t)) !== null;
      const acknowledgedAlive = [await alive(loggedOut), ...(await Promise.all(others.map(alive)))];
      expect(acknowledgedAlive).toEqual([false, false, false]);
      // The acknowledged rotation and role change survived: old token dead, new one alive with
      // the session's user; the demoted session has its new roles.
      expect(await alive(rotating)).toBe(false);
      expect((await plain.validate(rotated?.token ?? ''))?.userId).toBe(`u-${trial}-rotating`);
      const [demoted] = await plain.listForUser(`u-${trial}-demoted`);
      expect(demoted?.roles).toEqual(['y']);
      // The rotation refused with 503 changed nothing that survived: the holder's token still
      // works and no second session (under a token nobody holds) came back with the replica.
      expect(await alive(rotatingLagging)).toBe(true);
      expect(await plain.listForUser(`u-${trial}-rotating-lagging`)).toHaveLength(1);
      // Not an assertion of the library: proof that the lag was real and the 503 honest…
      expect(await alive(lagging)).toBe(true);
      expect((await plain.validate(demotedLagging))?.roles).toEqual(['x']);
      // …and the failure mode durability prevents: a success that the failover undid.
      expect(await alive(control)).toBe(true);
      outcomes.push(`trial ${trial}: acknowledged revocations dead, lagging 503, control undone`);

      // The dead primary comes back empty, as a replica of the new one (through a new relay).
      const promoted = replica;
      await primary.dispose();
      ({ replica, link } = await startReplicaOf(promoted, primary.port));
      primary = promoted;
    }
    expect(outcomes).toHaveLength(TRIALS);
    // Never a stack trace in any warning.
    expect(warnings().filter((message) => message.includes('\n'))).toEqual([]);
  });
});

/** A replica of `source` that replicates through a relay, once it is in sync. */
async function startReplicaOf(source: RedisServerProcess, port?: number) {
  const link = await startTcpRelay(source.port);
  const replica = await startReplica(link.port, port);
  return { replica, link };
}

/** Waits until the store reaches the (new) primary through the Sentinels. */
async function untilValid(sessions: SessionService, token: string): Promise<void> {
  await until(async () => (await sessions.validate(token).catch(() => null)) !== null);
}
