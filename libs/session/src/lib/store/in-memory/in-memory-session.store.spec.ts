import { newSecret, SessionRef, sessionRef } from '../../token/session.token';
import { InMemorySessionStore } from './in-memory-session.store';

describe('InMemorySessionStore global revocation', () => {
  const user = { id: 'u-alice', username: 'alice', roles: ['customer'] };
  let now: jest.SpyInstance<number, []>;

  beforeEach(() => {
    // One millisecond for the whole test: the store reads no other clock.
    now = jest.spyOn(Date, 'now').mockReturnValue(1_800_000_000_000);
  });

  afterEach(() => now.mockRestore());

  const login = async (store: InMemorySessionStore): Promise<SessionRef> => {
    const created = await store.create({ digest: newSecret().digest, user, attributes: {} });
    return sessionRef(created?.tag ?? '', created?.session.id.split('.')[1] ?? '');
  };

  it('ends at a second revocation, in the same millisecond, a login made after the first', async () => {
    const store = new InMemorySessionStore();
    const first = await store.revokeEverything();
    const later = await login(store);
    const second = await store.revokeEverything();
    expect(second.notBefore).toBeGreaterThan(first.notBefore);
    expect(second.revoked).toBe(1);
    expect(await store.get(later)).toBeNull();
  });

  it('spares the session the kept id was rotated to, under its new id only', async () => {
    const store = new InMemorySessionStore();
    const kept = await login(store);
    const other = await login(store);
    const rotated = sessionRef(kept.tag, newSecret().digest);
    await store.rotate(kept, rotated, { reauthenticated: true });
    const { notBefore, revoked, kept: spared } = await store.revokeEverything(kept);
    expect(revoked).toBe(1);
    expect(spared).toBe(rotated.id);
    expect((await store.get(rotated))?.createdAt).toBe(notBefore);
    expect(await store.get(other)).toBeNull();
    expect(await store.get(kept)).toBeNull();
  });
});

describe('InMemorySessionStore timeouts', () => {
  const user = { id: 'u-bob', username: 'bob', roles: ['customer'] };
  const start = 1_800_000_000_000;
  let clock: number;
  let now: jest.SpyInstance<number, []>;

  beforeEach(() => {
    clock = start;
    now = jest.spyOn(Date, 'now').mockImplementation(() => clock);
  });

  afterEach(() => now.mockRestore());

  const login = async (store: InMemorySessionStore): Promise<SessionRef> => {
    const created = await store.create({ digest: newSecret().digest, user, attributes: {} });
    return sessionRef(created?.tag ?? '', created?.session.id.split('.')[1] ?? '');
  };

  it('keeps a session through the millisecond its idle timeout ends in, as a Redis TTL does', async () => {
    const store = new InMemorySessionStore({ idleTimeout: 10, absoluteTimeout: 60 });
    const ref = await login(store);
    clock = start + 10_000;
    expect(await store.get(ref)).not.toBeNull();
    clock = start + 10_001;
    expect(await store.get(ref)).toBeNull();
  });

  it('ends a session in the millisecond of its absolute deadline, as validate.lua does', async () => {
    const store = new InMemorySessionStore({ idleTimeout: 10, absoluteTimeout: 15 });
    const ref = await login(store);
    clock = start + 9_000;
    expect((await store.validate(ref))?.expiresAt).toBe(start + 15_000);
    clock = start + 14_999;
    expect(await store.validate(ref)).not.toBeNull();
    clock = start + 15_000;
    expect(await store.validate(ref)).toBeNull();
  });
});
