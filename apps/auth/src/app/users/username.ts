import { Transform } from 'class-transformer';

/**
 * The one form a username is stored, looked up, throttled and signed in: without the whitespace
 * around it (a phone's autocomplete adds a trailing space) and with ASCII letters lower-cased.
 * Only ASCII: `toLowerCase` makes the Kelvin sign a `k`, so a name validation refuses would
 * reach the lookup as another one. Creation and login apply this same function, so every
 * spelling that would create an account signs in to it, and shares its throttle budget.
 *
 * @example
 * normalizeUsername(' Alice\u00a0'); // 'alice'
 */
export function normalizeUsername(username: string): string {
  return username.trim().replace(/[A-Z]/g, (letter) => letter.toLowerCase());
}

/**
 * A DTO field's username, normalised ({@link normalizeUsername}) before it is validated; a value
 * that is not a string is left to the validators to refuse.
 */
export function NormalizedUsername(): PropertyDecorator {
  return Transform(({ value }: { value: unknown }) =>
    typeof value === 'string' ? normalizeUsername(value) : value,
  );
}
