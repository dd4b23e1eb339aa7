import fc from 'fast-check';

import type { SessionEvent } from '@cloakroom/session';

import { activityActorOf, activityTypeOf } from './session-events.consumer';

const event = (type: string, reason?: string, roles?: string[]) =>
  ({ id: '1-0', at: 1, type, actor: null, userId: 'u', reason, roles }) as SessionEvent;

describe('activityTypeOf', () => {
  it.each([
    ['session.created', undefined, 'login'],
    ['session.revoked', 'logout', 'logout'],
    ['session.revoked', 'admin', 'session.revoked'],
    ['session.revoked', 'self', 'session.revoked'],
    ['session.revoked', 'cap', 'session.evicted'],
    ['session.evicted', 'cap', 'session.evicted'],
    ['session.expired', undefined, 'session.expired'],
    ['sessions.revoked-all', 'revoke-all', 'sessions.revoked-all'],
    ['session.rotated', undefined, null],
    ['session.something-new', undefined, null],
  ])('stores %s (reason %s) as %s', (type, reason, expected) => {
    expect(activityTypeOf(event(type, reason))).toBe(expected);
  });

  it('stores a role change that was made, not one whose write failed (no roles)', () => {
    expect(activityTypeOf(event('roles.changed', undefined, ['customer']))).toBe('roles.changed');
    expect(activityTypeOf(event('roles.changed'))).toBeNull();
  });
});

describe('activityActorOf', () => {
  const user = { id: 'u', username: 'user' };
  const other = { id: 'x', username: 'stranger' };
  const withActor = (type: string, actor: SessionEvent['actor'], reason?: string) =>
    ({ id: '1-0', at: 1, type, actor, userId: 'u', reason }) as SessionEvent;

  it("names an administrator's action, and the user's own", () => {
    expect(activityActorOf(withActor('roles.changed', other))).toEqual(other);
    for (const reason of ['admin', 'disable', 'revoke-all']) {
      expect(activityActorOf(withActor('sessions.revoked-all', other, reason))).toEqual(other);
      expect(activityActorOf(withActor('session.revoked', other, reason))).toEqual(other);
    }
    for (const reason of ['login', 'logout', 'self', undefined]) {
      expect(activityActorOf(withActor('session.revoked', user, reason))).toEqual(user);
    }
    expect(activityActorOf(withActor('session.expired', null))).toBeNull();
  });

  it('names no one else for any other reason', () => {
    fc.assert(
      fc.property(
        fc.constantFrom('session.created', 'session.revoked', 'session.evicted', 'session.expired'),
        fc
          .option(fc.string(), { nil: undefined })
          .filter((reason) => !['admin', 'disable', 'revoke-all'].includes(reason ?? '')),
        fc.string().filter((id) => id !== 'u'),
        (type, reason, id) => {
          expect(activityActorOf(withActor(type, { id, username: 'n' }, reason))).toBeNull();
        },
      ),
    );
  });
});
