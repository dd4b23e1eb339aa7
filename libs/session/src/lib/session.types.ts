/** The user a session belongs to, as the auth service knows them. */
export interface SessionUser {
  id: string;
  username: string;
  roles: string[];
}

/** Facts about the client recorded when a session is created. */
export interface SessionMeta {
  ip?: string;
  userAgent?: string;
  /** Initial app attributes, JSON-serialisable. */
  attributes?: Record<string, unknown>;
}

/** A live session, as validated or listed. Times are epoch milliseconds (Redis clock). */
export interface Session {
  /** Public identifier: safe to show and to log, useless as a credential. */
  id: string;
  userId: string;
  username: string;
  roles: string[];
  createdAt: number;
  lastSeenAt: number;
  /** When the session dies unless used again: the sooner of the idle and absolute limits. */
  expiresAt: number;
  /** When the session dies whatever happens. */
  absoluteExpiresAt: number;
  ip?: string;
  userAgent?: string;
  attributes: Record<string, unknown>;
}

/** A session just issued, with the only copy of its token. */
export interface IssuedSession {
  token: string;
  session: Session;
  /** Sessions of the same user revoked because the per-user cap was reached. */
  evicted: string[];
}
