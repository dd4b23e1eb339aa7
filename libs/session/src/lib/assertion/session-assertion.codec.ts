import { KeyObject, sign, verify } from 'node:crypto';

import { SessionAssertionRefusedError } from '../errors/session-assertion-refused.error';

/**
 * What an assertion says: one service (`iss`) tells another (`aud`) that it acts for the live
 * session `sid` of user `sub`, until `exp`. Times are epoch milliseconds of the issuer's clock.
 * The user's token is never in it: a receiver that leaks an assertion leaks nothing that
 * logs in, or that another service would accept.
 */
export interface SessionAssertionClaims {
  /** Id of the signing key. */
  kid: string;
  iss: string;
  aud: string;
  /** The session id (public by design). */
  sid: string;
  /** The user id. */
  sub: string;
  /** The username, for logs and handlers; the receiver reads roles from the live session. */
  name: string;
  roles: string[];
  iat: number;
  exp: number;
}

/**
 * Format: `cra1.<claims>.<signature>`, both base64url; the signature is Ed25519 over the ASCII
 * bytes of `cra1.<claims>`, so the version is signed too. One algorithm, no header to choose
 * another: nothing for an attacker to downgrade.
 */
const PREFIX = 'cra1.';

/** Longer values are refused before any parsing: an assertion is a few hundred bytes. */
export const MAX_ASSERTION_LENGTH = 8 * 1024;

const BASE64URL = /^[A-Za-z0-9_-]+$/;

/** The assertion for `claims`, signed with `key` (Ed25519 private key). */
export function encodeAssertion(claims: SessionAssertionClaims, key: KeyObject): string {
  const signed = PREFIX + Buffer.from(JSON.stringify(claims)).toString('base64url');
  return `${signed}.${sign(null, Buffer.from(signed), key).toString('base64url')}`;
}

/**
 * Reads an assertion without trusting it: its claims, checked for shape only, and the bytes
 * and signature to verify. Throws `SessionAssertionRefusedError` ('missing', 'malformed').
 */
export function decodeAssertion(value: unknown): {
  claims: SessionAssertionClaims;
  signed: Buffer;
  signature: Buffer;
} {
  if (value === undefined || value === null) {
    throw new SessionAssertionRefusedError('missing');
  }
  if (typeof value !== 'string' || value.length > MAX_ASSERTION_LENGTH) {
    throw new SessionAssertionRefusedError('malformed');
  }
  const dot = value.lastIndexOf('.');
  const encoded = value.slice(PREFIX.length, dot);
  const signature = value.slice(dot + 1);
  if (!value.startsWith(PREFIX) || !BASE64URL.test(encoded) || !BASE64URL.test(signature)) {
    throw new SessionAssertionRefusedError('malformed');
  }
  let claims: unknown;
  try {
    claims = JSON.parse(Buffer.from(encoded, 'base64url').toString('utf8'));
  } catch {
    throw new SessionAssertionRefusedError('malformed');
  }
  if (!isClaims(claims)) {
    throw new SessionAssertionRefusedError('malformed');
  }
  const signatureBytes = Buffer.from(signature, 'base64url');
  // Base64url leaves spare bits in its last character: only the canonical spelling of a
  // signature is accepted, so that one assertion has exactly one form.
  if (signatureBytes.toString('base64url') !== signature) {
    throw new SessionAssertionRefusedError('malformed');
  }
  return { claims, signed: Buffer.from(value.slice(0, dot)), signature: signatureBytes };
}

/** Whether `signature` is `key`'s Ed25519 signature of `signed`. */
export function signatureMatches(signed: Buffer, signature: Buffer, key: KeyObject): boolean {
  // Ed25519 signatures are 64 bytes; anything else is refused without a verification.
  return signature.length === 64 && verify(null, signed, key, signature);
}

function isClaims(value: unknown): value is SessionAssertionClaims {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return false;
  }
  const claims = value as Record<string, unknown>;
  return (
    ['kid', 'iss', 'aud', 'sid', 'sub', 'name'].every(
      (name) => typeof claims[name] === 'string' && claims[name] !== '',
    ) &&
    Array.isArray(claims['roles']) &&
    claims['roles'].every((role) => typeof role === 'string') &&
    Number.isSafeInteger(claims['iat']) &&
    Number.isSafeInteger(claims['exp'])
  );
}
