import { createHash, createHmac, hash, randomBytes } from 'node:crypto';

/**
 * Token layout: `cr1.<tag>.<secret>`.
 * - `cr1.` lets secret scanners recognise a leaked token and leaves room for a new format.
 * - `tag` (6 bytes: an HMAC of the user id, or random for users tagged by earlier releases)
 *   names the Redis Cluster hash slot that holds all of that user's sessions and index; it
 *   says nothing about the user to whoever lacks the store's key.
 * - `secret` (32 random bytes) is the credential. Redis only ever sees SHA-256 of it.
 * A session id is `<tag>.<digest>`: it names the session without being able to log in.
 */
const TOKEN_PATTERN = /^cr1\.[A-Za-z0-9_-]{8}\.[A-Za-z0-9_-]{43}$/;
const ID_PATTERN = /^([A-Za-z0-9_-]{8})\.([A-Za-z0-9_-]{22})$/;
const TAG_PATTERN = /^[A-Za-z0-9_-]{8}$/;
const DIGEST_PATTERN = /^[A-Za-z0-9_-]{22}$/;

/**
 * A parsed session id, from which every key of the session is derived.
 *
 * @example
 * const ref: SessionRef | null = parseSessionId(params.id);
 * const session = ref && (await store.get(ref));
 */
export interface SessionRef {
  tag: string;
  digest: string;
  /** `<tag>.<digest>` */
  id: string;
  /**
   * The token the ref was parsed from, when it was parsed from one: what a store that asks
   * another service (`RemoteSessionStore`) sends, so that a session id alone proves nothing.
   * A store that keeps sessions never keeps it.
   */
  token?: string;
}

/** A fresh secret and its digest; the digest does not depend on the user's tag. */
export interface NewSecret {
  secret: string;
  digest: string;
}

export function newUserTag(): string {
  return randomBytes(6).toString('base64url');
}

/**
 * A user's tag derived from their id with a secret key (HMAC-SHA-256, first 6 bytes): the same
 * for every session of the user without a key per user to look it up, and meaningless without
 * the key.
 */
export function deriveUserTag(key: string, userId: string): string {
  return createHmac('sha256', key).update(userId).digest().subarray(0, 6).toString('base64url');
}

/** A fresh key for {@link deriveUserTag}: 32 random bytes, base64url. */
export function newUserTagKey(): string {
  return randomBytes(32).toString('base64url');
}

export function isUserTagKey(value: unknown): value is string {
  return typeof value === 'string' && /^[A-Za-z0-9_-]{43}$/.test(value);
}

export function isUserTag(value: unknown): value is string {
  return typeof value === 'string' && TAG_PATTERN.test(value);
}

export function isDigest(value: unknown): value is string {
  return typeof value === 'string' && DIGEST_PATTERN.test(value);
}

export function newSecret(): NewSecret {
  const secret = randomBytes(32).toString('base64url');
  return { secret, digest: digestOf(secret) };
}

/** The token a client presents for a secret issued under a user's tag. */
export function formatToken(tag: string, secret: string): string {
  return `cr1.${tag}.${secret}`;
}

export function sessionRef(tag: string, digest: string): SessionRef {
  return { tag, digest, id: `${tag}.${digest}` };
}

/** The session a token names, or null when the token is malformed (no store call needed). */
export function parseToken(token: unknown): SessionRef | null {
  if (typeof token !== 'string' || token.length !== 56 || !TOKEN_PATTERN.test(token)) {
    return null;
  }
  // Positions are fixed once the pattern matched: no capture groups to allocate per request.
  const tag = token.slice(4, 12);
  const digest = digestOf(token.slice(13));
  return { tag, digest, id: `${tag}.${digest}`, token };
}

/**
 * The session an id names (`<tag>.<digest>`, as listings give it), or null when it is no
 * session id — a token included: routes that take an id from a URL refuse tokens there.
 *
 * @example
 * if (!parseSessionId(params.id)) throw new NotFoundException('Session not found');
 */
export function parseSessionId(id: unknown): SessionRef | null {
  if (typeof id !== 'string') {
    return null;
  }
  const match = ID_PATTERN.exec(id);
  return match ? { tag: match[1], digest: match[2], id } : null;
}

/**
 * SHA-256 in one call where Node has it (`crypto.hash`, Node ≥ 20.12): it skips the Hash object
 * `createHash` builds, which a validation pays on every request.
 */
const sha256: (text: string) => string =
  typeof hash === 'function'
    ? (text) => hash('sha256', text, 'base64url')
    : (text) => createHash('sha256').update(text).digest('base64url');

function digestOf(secret: string): string {
  // 128 bits of SHA-256 are plenty against collisions and keep keys short in memory.
  return sha256(secret).slice(0, 22);
}
