import { createHash } from 'node:crypto';

/**
 * The session attribute naming the password a session proved, by {@link passwordStamp}: set at
 * login, and again by a re-authentication or a password change.
 */
export const PASSWORD_STAMP = 'auth.pw';

/**
 * A short name of the password whose hash is `passwordHash`, to stamp the sessions that proved
 * it: a session whose stamp is not the stored hash's proved a password since replaced. Each
 * hash carries a random salt, so a later password (even the same one typed again) never shares
 * a stamp, and a password put back gets its stamp back. 66 bits of SHA-256: not the hash, and
 * of no use to guess the password without the salt; short, as every session holds one (the
 * name and the stamp add 18 bytes to a session in Redis).
 *
 * @example
 * await sessions.create(user, { attributes: { [PASSWORD_STAMP]: passwordStamp(hash) } });
 */
export function passwordStamp(passwordHash: string): string {
  return createHash('sha256').update(passwordHash).digest('base64url').slice(0, 11);
}
