/**
 * A create or patch that would give one session more app attributes than it may hold:
 * more than `SESSION_ATTRIBUTE_LIMITS.count` of them, or more than
 * `SESSION_ATTRIBUTE_LIMITS.bytes` of names and JSON values together. Sessions are read on every
 * request (and held by every cache): attributes are for a few small values, not for data.
 * Nothing is written; what the session held stays as it was. An app that patches from request
 * input answers it as a 413 or 400.
 *
 * @example
 * try {
 *   await sessions.patch(token, { cart });
 * } catch (error) {
 *   if (error instanceof SessionAttributesTooLargeError) throw new PayloadTooLargeException();
 *   throw error;
 * }
 */
export class SessionAttributesTooLargeError extends RangeError {
  constructor() {
    super('Session attributes over their limit');
    this.name = 'SessionAttributesTooLargeError';
  }
}
