import { createHash } from 'node:crypto';

import {
  formatToken,
  newSecret,
  newUserTag,
  parseSessionId,
  parseToken,
  SessionRef,
  sessionRef,
} from './session.token';

/** A token for a user's tag, with the reference of the session it names. */
function newToken(tag: string): { token: string; ref: SessionRef } {
  const { secret, digest } = newSecret();
  return { token: formatToken(tag, secret), ref: sessionRef(tag, digest) };
}

describe('session tokens', () => {
  it('carries 256 random bits after a recognisable prefix and the user tag', () => {
    const tag = newUserTag();
    const { token, ref } = newToken(tag);
    expect(token).toMatch(new RegExp(`^cr1\\.${tag}\\.[A-Za-z0-9_-]{43}$`));
    expect(Buffer.from(token.split('.')[2], 'base64url')).toHaveLength(32);
    expect(ref.tag).toBe(tag);
  });

  it('never issues the same token twice', () => {
    const tag = newUserTag();
    const tokens = new Set(Array.from({ length: 1000 }, () => newToken(tag).token));
    expect(tokens.size).toBe(1000);
  });

  it('parses a token to a session id that does not contain its secret', () => {
    const { token, ref } = newToken(newUserTag());
    const parsed = parseToken(token);
    expect(parsed).toEqual({ ...ref, token });
    expect(parsed?.id).not.toContain(token.split('.')[2]);
    expect(parseSessionId(ref.id)).toEqual(ref);
    expect(parseSessionId(ref.id)).not.toHaveProperty('token');
  });

  it.each([
    ['empty', ''],
    ['a number', 42],
    ['no prefix', 'x'.repeat(56)],
    ['an old version', newToken('AAAAAAAA').token.replace('cr1.', 'cr0.')],
    ['a bad alphabet', `cr1.AAAAAAAA.${'!'.repeat(43)}`],
    ['a truncated secret', newToken('AAAAAAAA').token.slice(0, -1)],
    ['a session id', newToken('AAAAAAAA').ref.id],
  ])('refuses %s', (_label, value) => {
    expect(parseToken(value)).toBeNull();
  });

  it('derives the digest as SHA-256 of the secret, whichever hash function Node offers', () => {
    // A different digest would orphan every live session at the next deploy.
    const secret = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQ';
    const expected = createHash('sha256').update(secret).digest('base64url').slice(0, 22);
    expect(parseToken(formatToken('AAAAAAAA', secret))).toMatchObject({
      tag: 'AAAAAAAA',
      digest: expected,
      id: `AAAAAAAA.${expected}`,
    });
    const fresh = newSecret();
    expect(fresh.digest).toBe(
      createHash('sha256').update(fresh.secret).digest('base64url').slice(0, 22),
    );
  });

  it('refuses a token as a session id', () => {
    expect(parseSessionId(newToken('AAAAAAAA').token)).toBeNull();
  });
});
