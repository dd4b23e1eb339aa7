import { KeyObject } from 'node:crypto';

import { Session } from '../src';
import {
  encodeAssertion,
  SessionAssertionClaims,
} from '../src/lib/assertion/session-assertion.codec';

/**
 * A hand-made assertion for `session` from orders to catalog (`kid` orders-1), signed with `key`,
 * `changes` applied to its claims: what a forger, a confused issuer or a bad clock sends.
 */
export function craftAssertion(
  session: Session,
  key: KeyObject,
  changes: Partial<SessionAssertionClaims>,
): string {
  const now = Date.now();
  return encodeAssertion(
    {
      kid: 'orders-1',
      iss: 'orders',
      aud: 'catalog',
      sid: session.id,
      sub: session.userId,
      name: session.username,
      roles: session.roles,
      iat: now,
      exp: now + 30_000,
      ...changes,
    },
    key,
  );
}
