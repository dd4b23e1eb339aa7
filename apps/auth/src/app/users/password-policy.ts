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

/** Characters as people count them: Unicode code points, not UTF-16 units. */
export function passwordLength(password: string): number {
  return [...password].length;
}
