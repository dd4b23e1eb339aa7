import type { SessionEvent } from '@cloakroom/session';

import { activityTypeOf } from './session-events.consumer';

const event = (type: string, reason?: string) =>
  ({ id: '1-0', at: 1, type, actor: null, userId: 'u', reason }) as SessionEvent;

describe('activityTypeOf', () => {
  it.each([
    ['session.created', undefined, 'login'],
    ['session.revoked', 'logout', 'logout'],
    ['session.revoked', 'admin', 'session.revoked'],
    ['session.revoked', 'self', 'session.revoked'],
    ['session.revoked', 'cap', 'session.evicted'],
    ['session.evicted', 'cap', 'session.evicted'],
    ['session.expired', undefined, 'session.expired'],
    ['roles.changed', undefined, 'roles.changed'],
    ['sessions.revoked-all', 'revoke-all', 'sessions.revoked-all'],
    ['session.rotated', undefined, null],
    ['session.something-new', undefined, null],
  ])('stores %s (reason %s) as %s', (type, reason, expected) => {
    expect(activityTypeOf(event(type, reason))).toBe(expected);
  });
});
