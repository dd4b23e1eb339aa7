/**
 * Why a session assertion was refused; the first check that failed.
 *
 * @example
 * if (error instanceof SessionAssertionRefusedError) refusals.inc({ reason: error.reason });
 */
export type SessionAssertionRefusal =
  /** The message carried none. */
  | 'missing'
  /** Not an assertion: bad encoding, missing or mistyped claims, an unknown version. */
  | 'malformed'
  /** Signed with a key this service does not trust, or one trusted for another issuer. */
  | 'unknown-key'
  | 'bad-signature'
  /**
   * Sent over a connection whose verified client certificate names another service than its
   * issuer, or none; or, with `requirePeer`, over one that names no sender at all.
   */
  | 'wrong-peer'
  /** Addressed to another service. */
  | 'wrong-audience'
  | 'expired'
  /**
   * Issued in the future (beyond the tolerated clock skew), expiring before it was issued, or
   * for longer than allowed.
   */
  | 'bad-lifetime'
  /** The session it names is revoked, expired, or now belongs to someone else. */
  | 'session-ended';

/**
 * `SessionAssertions.verify` refused an assertion. `SessionGuard` answers it, on a message
 * handler, with an RPC error `{ status: 401, error: 'unauthenticated', message }`.
 *
 * @example
 * try {
 *   await assertions.verify(value);
 * } catch (error) {
 *   if (error instanceof SessionAssertionRefusedError) logger.warn(error.reason);
 * }
 */
export class SessionAssertionRefusedError extends Error {
  constructor(readonly reason: SessionAssertionRefusal) {
    super(`Session assertion refused: ${reason}`);
    this.name = 'SessionAssertionRefusedError';
  }
}
