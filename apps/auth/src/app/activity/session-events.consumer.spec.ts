import type { SessionEvent } from '@cloakroom/session';

import { activityTypeOf } from './session-events.consumer';

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
