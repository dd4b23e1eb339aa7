import { createHash } from 'node:crypto';

/**
 * The session attribute naming the password a session proved, by {@link passwordStamp}: set at
 * login, and again by a re-authentication or a password change.
 */
export const PASSWORD_STAMP = 'auth.pw';

/**
 * A short name of the password whose hash is `passwordHash`, to stamp the sessions that proved
 * it: a session whose stamp is not the stored hash's proved a password since replaced. Each
 * hash carries a random salt, so a later password (even the same one typed again) shares no
 * stamp but by chance, and a password put back gets its stamp back. 36 bits of SHA-256: not
 * the hash, of no use to guess the password without the salt, and short, as every session
 * holds one (16 bytes more per session hash in Redis, measured with MEMORY USAGE; 11
 * characters cost 32). An old password's stamp equal to the new one's by chance (1 in 2^36)
 * would only spare, in the rare look after a crash, a session that proved the old password.
 *
 * @example
 * await sessions.create(user, { attributes: { [PASSWORD_STAMP]: passwordStamp(hash) } });
 */
export function passwordStamp(passwordHash: string): string {
  return createHash('sha256').update(passwordHash).digest('base64url').slice(0, 6);
}
