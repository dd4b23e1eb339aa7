import { Cluster } from 'ioredis';

import { SessionService, SessionStoreUnavailableError } from '../src';
import { RedisClusterProcess, startRedisCluster } from '../src/testing';
import { beginSlotMigration } from './slot-migration';
import { sessionService, uniquePrefix } from './store-contract';

jest.setTimeout(120_000);

/**
 * Resharding moves a slot's keys a batch at a time: meanwhile a user's index may be on the
 * target master while their sessions are still on the source. Scripts that reach the sessions
 * through the index (role changes, revoke-all, listing) ran on the target (Redis follows the
 * index there, with ASKING), found none of the sessions, and answered success: the role change
 * and the revoke-all missed every session, the listing pruned them all as expired, and the
 * sessions, moved over afterwards, lived on with their old roles, out of the user's index —
 * beyond the reach of any later revoke-all. Such a script must wait for the move (Redis's
 * TRYAGAIN) or fail as unavailable, never answer a success it did not achieve.
 */
describe('a user’s sessions while their hash slot migrates between masters', () => {
  let cluster: RedisClusterProcess;
  let admin: Cluster;
  let prefix: string;
  let sessions: SessionService;
  let close: () => Promise<void>;
  let users = 0;

  beforeAll(async () => {
    cluster = await startRedisCluster();
    admin = new Cluster(cluster.addresses);
    prefix = uniquePrefix();
    ({ sessions, close } = await sessionService({
      redis: { cluster: cluster.addresses },
      keyPrefix: prefix,
      storeTimeout: 3,
      events: false,
    }));
  });

  afterAll(async () => {
    await close?.();
    admin?.disconnect();
    await cluster?.dispose();
  });

  /** A user with three sessions and a revocation generation, and their slot's keys. */
  async function userWithSessions() {
    const user = { id: `u-reshard-${users++}`, username: `reshard${users}`, roles: ['admin'] };
    const tokens: string[] = [];
    for (let i = 0; i < 3; i++) tokens.push((await sessions.create(user)).token);
    // The generation key exists from the first role change or revoke-all on.
    await sessions.setRolesForUser(user.id, ['admin']);
    const keys: string[] = [];
    for (const node of admin.nodes('master')) {
      keys.push(...(await node.keys(`${prefix}{*}:u:${user.id}`)));
    }
    expect(keys).toHaveLength(1);
    return { user, tokens, index: keys[0] };
  }

  /** The index and generation on the target, the sessions still on the source. */
  const indexFirst = (key: string) => /:[ug]:u-reshard-/.test(key);

  async function outcome<T>(call: Promise<T>): Promise<{ ok: true; value: T } | { ok: false }> {
    try {
      return { ok: true, value: await call };
    } catch (error) {
      expect(error).toBeInstanceOf(SessionStoreUnavailableError);
      return { ok: false };
    }
  }

  it('a role change answered never leaves a session with the old roles, nor out of the index', async () => {
    const { user, tokens, index } = await userWithSessions();
    const migration = await beginSlotMigration(cluster, index);
    await migration.move(indexFirst);
    const changed = await outcome(sessions.setRolesForUser(user.id, ['customer']));
    await migration.finish();

    const roles = await Promise.all(tokens.map(async (t) => (await sessions.validate(t))?.roles));
    expect({ changed, roles }).toEqual({
      changed,
      roles: tokens.map(() => (changed.ok ? ['customer'] : expect.any(Array))),
    });
    expect(await sessions.listForUser(user.id)).toHaveLength(3);
  });

  it('a revoke-all answered leaves no session alive, and one refused leaves them all listed', async () => {
    const { user, tokens, index } = await userWithSessions();
    const migration = await beginSlotMigration(cluster, index);
    await migration.move(indexFirst);
    const revoked = await outcome(sessions.revokeAllForUser(user.id));
    await migration.finish();

    const alive = await Promise.all(tokens.map(async (t) => (await sessions.validate(t)) !== null));
    expect({ revoked, alive }).toEqual({ revoked, alive: tokens.map(() => !revoked.ok) });
    expect(await sessions.listForUser(user.id)).toHaveLength(revoked.ok ? 0 : 3);
  });

  it('a listing neither hides live sessions nor drops them from the index', async () => {
    const { user, tokens, index } = await userWithSessions();
    const migration = await beginSlotMigration(cluster, index);
    await migration.move(indexFirst);
    const listed = await outcome(sessions.listForUser(user.id));
    await migration.finish();

    if (listed.ok) expect(listed.value).toHaveLength(3);
    // The index still reaches every session: a revoke-all after the move ends them all.
    expect(await sessions.revokeAllForUser(user.id)).toBe(3);
    for (const token of tokens) expect(await sessions.validate(token)).toBeNull();
  });

  it('waits out a short move: the role change and revoke-all answer once the slot has moved', async () => {
    const { user, tokens, index } = await userWithSessions();
    const migration = await beginSlotMigration(cluster, index);
    await migration.move(indexFirst);
    const changing = sessions.setRolesForUser(user.id, ['customer']);
    setTimeout(() => void migration.finish(), 200);
    expect(await changing).toBe(3);
    for (const token of tokens) {
      expect((await sessions.validate(token))?.roles).toEqual(['customer']);
    }

    const again = await beginSlotMigration(cluster, index);
    await again.move(indexFirst);
    const revoking = sessions.revokeAllForUser(user.id);
    setTimeout(() => void again.finish(), 200);
    expect(await revoking).toBe(3);
    for (const token of tokens) expect(await sessions.validate(token)).toBeNull();
  });
});
