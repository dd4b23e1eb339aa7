import { SessionAttributeNameError } from '../errors/session-attribute-name.error';
import { SessionAttributesTooLargeError } from '../errors/session-attributes-too-large.error';

/**
 * What one session's app attributes may hold: how many, and how many bytes of names and JSON
 * values (UTF-8) together. Every store keeps them; Redis checks the sum in the patch script.
 *
 * @example
 * const huge = { draft: 'x'.repeat(SESSION_ATTRIBUTE_LIMITS.bytes) };
 * await expect(sessions.patch(token, huge)).rejects.toThrow(SessionAttributesTooLargeError);
 */
export const SESSION_ATTRIBUTE_LIMITS = { count: 64, bytes: 16 * 1024 } as const;

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

/**
 * Throws `SessionAttributesTooLargeError` when `attributes` alone (a create's, or one patch's
 * changes: `undefined` removes and weighs nothing) are over `SESSION_ATTRIBUTE_LIMITS`, before
 * anything is sent: a store then checks what the session would hold with them.
 */
export function assertAttributesFit(attributes: Record<string, unknown>): void {
  const { count, bytes } = weigh(attributes);
  if (count > SESSION_ATTRIBUTE_LIMITS.count || bytes > SESSION_ATTRIBUTE_LIMITS.bytes) {
    throw new SessionAttributesTooLargeError();
  }
}

/**
 * Whether a session's attributes, `after` a patch, go past `SESSION_ATTRIBUTE_LIMITS` further
 * than they were `before` it: what the patch script refuses (a session over the limits, written
 * before them, can still be trimmed).
 */
export function growsPastLimits(
  before: Record<string, unknown>,
  after: Record<string, unknown>,
): boolean {
  const [was, is] = [weigh(before), weigh(after)];
  return (
    (is.count > SESSION_ATTRIBUTE_LIMITS.count && is.count > was.count) ||
    (is.bytes > SESSION_ATTRIBUTE_LIMITS.bytes && is.bytes > was.bytes)
  );
}

/** How many names `attributes` has, and the bytes of those it sets (a removal weighs nothing). */
function weigh(attributes: Record<string, unknown>): { count: number; bytes: number } {
  const names = Object.keys(attributes);
  let bytes = 0;
  for (const name of names) {
    if (attributes[name] !== undefined) bytes += attributeBytes(name, attributes[name]);
  }
  return { count: names.length, bytes };
}

/** What one attribute weighs against `SESSION_ATTRIBUTE_LIMITS.bytes`: as Redis stores it. */
export function attributeBytes(name: string, value: unknown): number {
  return Buffer.byteLength(name) + Buffer.byteLength(JSON.stringify(value) ?? '');
}
