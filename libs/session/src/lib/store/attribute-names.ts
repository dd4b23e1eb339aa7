import { SessionAttributeNameError } from '../errors/session-attribute-name.error';

/** Names every object already has a meaning for: as attributes they are never read back. */
const RESERVED = new Set(['__proto__', 'constructor', 'prototype']);

/**
 * Throws `SessionAttributeNameError` for the first name no store may keep (see there).
 *
 * @example
 * assertAttributeNames(Object.keys(attributes));
 */
export function assertAttributeNames(names: Iterable<string>): void {
  for (const name of names) {
    if (RESERVED.has(name)) {
      throw new SessionAttributeNameError(name);
    }
  }
}

/**
 * Whether a stored attribute is read back: a reserved name (written before names were checked,
 * or by hand) is skipped, so that it cannot reach any reader's object.
 */
export function isReadableAttribute(name: string): boolean {
  return !RESERVED.has(name);
}
