import { Redis } from 'ioredis';

import { SessionService } from '../src';
import { RedisKeys } from '../src/lib/store/redis/redis-keys';
import { installSessionScripts } from '../src/lib/store/redis/session-scripts';
import { ROTATION_FORWARD_MS } from '../src/lib/store/session-store.interface';
import { newSecret, parseSessionId, SessionRef, sessionRef } from '../src/lib/token/session.token';
import { RedisServerProcess } from '../src/testing';
import { startNode, startReplica } from './sentinel-failover';
import { sessionService, uniquePrefix } from './store-contract';

type ScriptCall = (...args: Array<string | number>) => Promise<unknown>;
type Scripted = Redis & { cloakroomUndoRotate: ScriptCall; cloakroomUndoCreate: ScriptCall };

jest.setTimeout(60_000);

/**
 * With `durability`, an undo counts as done once a WAIT after it finds enough replicas. WAIT
 * counts the replicas that reached the last write of its own connection (since Redis 7.2, only
 * a command that Redis replicated moves that mark): a repeat that finds the undo done, sent on
 * a connection that wrote nothing before (the last one was dropped while idle, or the first
 * undo went out on the create's connection), would let the WAIT answer at once, confirming
 * nothing. Sent for a WAIT, an undo therefore always writes something replicated — the
 * primary's replication offset moves — and otherwise writes nothing it does not need to.
 */
describe('an undo sent to be waited for', () => {
  const keyPrefix = uniquePrefix();
  const keys = new RedisKeys(keyPrefix);
  let primary: RedisServerProcess;
  let replica: RedisServerProcess;
  let admin: Scripted;
  let sessions: SessionService;
  let close: () => Promise<void>;

  beforeAll(async () => {
    // No replication PING during a test: the offset moves only with what the scripts write.
    primary = await startNode(undefined, ['--repl-ping-replica-period', '3600']);
    replica = await startReplica(primary.port);
    admin = new Redis(primary.port, '127.0.0.1') as Scripted;
    installSessionScripts(admin);
    ({ sessions, close } = await sessionService({
      redis: { url: primary.url },
      keyPrefix,
      events: false,
    }));
  });

  afterAll(async () => {
    await close?.().catch(() => undefined);
    admin?.disconnect();
    await Promise.all([primary, replica].map((node) => node?.dispose().catch(() => undefined)));
  });

  /** What `call` answers, and how far it moved the primary's replication offset. */
  async function replicated(call: () => Promise<unknown>) {
    const offset = async () =>
      Number(/master_repl_offset:(\d+)/.exec(await admin.info('replication'))?.[1]);
    const before = await offset();
    const answer = await call();
    return { answer, moved: (await offset()) > before };
  }

  it("replicates a write when a rotation's undo finds its work done", async () => {
    const user = { id: 'u-mark-rotate', username: 'markrotate', roles: [] };
    const issued = await sessions.create(user);
    const rotated = await sessions.rotate(issued.token);
    const from = parseSessionId(issued.session.id) as SessionRef;
    const to = parseSessionId(rotated?.session.id ?? '') as SessionRef;
    const undo = (marked: string) =>
      admin.cloakroomUndoRotate(
        keys.session(from),
        keys.session(to),
        keys.indexPrefix(from.tag),
        keys.forwardPrefix(from.tag),
        from.digest,
        to.digest,
        ROTATION_FORWARD_MS,
        user.id,
        marked,
      );

    expect(await replicated(() => undo('0'))).toEqual({ answer: 1, moved: true });
    expect(await replicated(() => undo('0'))).toEqual({ answer: 0, moved: false });
    expect(await replicated(() => undo('1'))).toEqual({ answer: 0, moved: true });
    await expect(undo('2')).rejects.toThrow(/ARGV\[7\]/);
    expect((await sessions.validate(issued.token))?.id).toBe(issued.session.id);
    expect(await admin.keys(`${keys.forwardPrefix(from.tag)}mark:*`)).toEqual([]);
  });

  it("replicates a write when a login's undo finds nothing to undo", async () => {
    const userId = 'u-mark-create';
    const issued = await sessions.create({ id: userId, username: 'markcreate', roles: [] });
    const { tag } = parseSessionId(issued.session.id) as SessionRef;
    const { digest } = newSecret();
    const undo = (marked: string) =>
      admin.cloakroomUndoCreate(
        keys.session(sessionRef(tag, digest)),
        keys.index(tag, userId),
        keys.generation(tag, userId),
        digest,
        userId,
        keys.sessionPrefix(tag),
        keys.evictedPrefix(tag),
        0,
        60_000,
        marked,
      );

    expect(await replicated(() => undo('0'))).toEqual({ answer: [0, []], moved: false });
    expect(await replicated(() => undo('1'))).toEqual({ answer: [0, []], moved: true });
    await expect(undo('yes')).rejects.toThrow(/ARGV\[7\]/);
    expect(await admin.keys(`${keys.evictedPrefix(tag)}mark:*`)).toEqual([]);
  });
});
