/**
 * The user a session belongs to, as the auth service knows them.
 *
 * @example
 * const user: SessionUser = { id: account.id, username: account.username, roles: account.roles };
 * await sessions.create(user, { ip: request.ip });
 */
export interface SessionUser {
  id: string;
  username: string;
  roles: string[];
}

/**
 * Facts about the client recorded when a session is created.
 *
 * @example
 * // the short `device` label is kept; the raw user agent only with `keepUserAgent`
 * await sessions.create(user, { ip, userAgent, device: 'Firefox 133 on Linux' });
 */
export interface SessionMeta {
  ip?: string;
  userAgent?: string;
  /**
   * A short label of the client computed by the app, e.g. "Chrome 131 on Windows"; kept as
   * given, cut to 64 bytes of UTF-8 (so that the session hash stays in Redis's compact encoding).
   */
  device?: string;
  /** Initial app attributes, JSON-serialisable. */
  attributes?: Record<string, unknown>;
}

/**
 * A live session, as validated or listed. Times are epoch milliseconds (Redis clock).
 *
 * @example
 * @Get('me')
 * me(@CurrentSession() session: Session) {
 *   return { username: session.username, expiresAt: session.expiresAt };
 * }
 */
export interface Session {
  /** Public identifier: safe to show and to log, useless as a credential. */
  id: string;
  userId: string;
  username: string;
  roles: string[];
  createdAt: number;
  /**
   * When the user last proved who they are: at login, and at a rotation with
   * `reauthenticated` (`@RequireRecentAuth()` checks it). Sessions older than the field carry
   * their creation time.
   */
  authenticatedAt: number;
  lastSeenAt: number;
  /** When the session dies unless used again: the sooner of the idle and absolute limits. */
  expiresAt: number;
  /** When the session dies whatever happens. */
  absoluteExpiresAt: number;
  /** Created with `persistent: true` ("remember me"): it has the `remember` timeouts. */
  persistent: boolean;
  ip?: string;
  userAgent?: string;
  /** The client's short label, as the app gave it at creation (`SessionMeta.device`). */
  device?: string;
  attributes: Record<string, unknown>;
}

/**
 * A session just issued, with the only copy of its token.
 *
 * @example
 * const { token, session }: IssuedSession = await sessions.create(user, meta);
 * return { token, expiresAt: session.expiresAt }; // a client that is not a browser keeps it
 */
export interface IssuedSession {
  token: string;
  session: Session;
  /** Sessions of the same user revoked because the per-user cap was reached. */
  evicted: string[];
}
