import { randomBytes } from 'node:crypto';

import { RedisStore } from 'connect-redis';
import session from 'express-session';

import { EXPRESS_SESSION_COOKIE } from '../scenarios';

/** What the session library stores about a session, for connect-redis to store the same. */
export interface SessionFacts {
  userId: string;
  username: string;
  roles: string[];
  createdAt: number;
  authenticatedAt: number;
  lastSeenAt: number;
  ip: string;
  device: string;
  /** Only when the session library keeps it too (`keepUserAgent`). */
  userAgent?: string;
}

// express-session's Cookie takes its options at runtime; its typings declare no constructor.
const Cookie = session.Cookie as unknown as new (options: session.CookieOptions) => session.Cookie;

/**
 * Stores a session through connect-redis as express-session would after a login: the
 * session's cookie (express-session serialises it with the data) and the user. Answers the
 * session id, 24 random bytes as express-session's default `genid` makes it.
 */
export async function storeExpressSession(store: RedisStore, facts: SessionFacts): Promise<string> {
  const sid = randomBytes(24).toString('base64url');
  const data = {
    cookie: new Cookie(EXPRESS_SESSION_COOKIE),
    user: {
      id: facts.userId,
      username: facts.username,
      roles: facts.roles,
      createdAt: facts.createdAt,
      authenticatedAt: facts.authenticatedAt,
      lastSeenAt: facts.lastSeenAt,
      ip: facts.ip,
      device: facts.device,
      ...(facts.userAgent && { userAgent: facts.userAgent }),
    },
  } as session.SessionData;
  await store.set(sid, data);
  return sid;
}
