/** Fewer characters than this are refused (ASVS 5.0 6.2.1, NIST SP 800-63B: at least 8; we ask 12). */
export const PASSWORD_MIN_LENGTH = 12;
/** Longer ones are refused: 128 is what ASVS asks to accept, and it caps the strength check's work. */
export const PASSWORD_MAX_LENGTH = 128;

/**
 * The form a password is hashed and verified in. NFKC (NIST SP 800-63B 5.1.1.2) makes the
 * same password typed on two keyboards one password: a precomposed "é" and "e" + combining
 * accent, full-width and ASCII digits, a ligature and its letters.
 */
export function normalizePassword(password: string): string {
  return password.normalize('NFKC');
}

/**
 * Characters as people count them: Unicode code points, not UTF-16 units, of the form the
 * password is hashed in, so that every way of typing one password gives it one length (a
 * decomposed "é" is two code points as typed, one once normalised).
 */
export function passwordLength(password: string): number {
  return [...normalizePassword(password)].length;
}

/**
 * Whether a password given to be checked (at login, re-authentication, as the current one of a
 * change) can be one the policy accepted, in whatever Unicode form it is typed: at most
 * {@link PASSWORD_MAX_LENGTH} characters once normalised, or as typed (what the policy counted
 * when the older passwords were set). Anything longer is refused before any password check.
 *
 * @example
 * fitsPasswordLength('é'.repeat(128).normalize('NFD')); // true: 256 code points typed, 128 hashed
 */
export function fitsPasswordLength(password: string): boolean {
  return (
    [...password].length <= PASSWORD_MAX_LENGTH || passwordLength(password) <= PASSWORD_MAX_LENGTH
  );
}
