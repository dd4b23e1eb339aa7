import { ForbiddenException, Injectable, UnauthorizedException } from '@nestjs/common';

import {
  IssuedSession,
  Session,
  SessionEventActor,
  SessionMeta,
  SessionService,
  SessionUserChangedError,
} from '@cloakroom/session';

import { User } from '../users/entities/user.entity';
import { UsersService } from '../users/users.service';
import { LoginThrottleService } from './login-throttle.service';

/** One message whatever was wrong, so the answer never says whether the username exists. */
const INVALID_CREDENTIALS = 'Invalid username or password';

@Injectable()
export class AuthService {
  constructor(
    private readonly users: UsersService,
    private readonly sessions: SessionService,
    private readonly throttle: LoginThrottleService,
  ) {}

  /** Checks a login attempt: 429 when throttled, 401 (same body for every cause) when wrong. */
  async verifyLogin(username: string, password: string, ip: string): Promise<User> {
    await this.throttle.assertAllowed(username, ip);
    const user = await this.users.verifyCredentials(username, password);
    if (!user) {
      await this.throttle.recordFailure(username, ip);
      throw new UnauthorizedException(INVALID_CREDENTIALS);
    }
    await this.throttle.forgive(username);
    return user;
  }

  /**
   * Starts a new session. Tokens the client already held are revoked first: a session
   * planted before login (fixation) never becomes an authenticated one.
   */
  async login(
    user: User,
    meta: { ip: string; userAgent?: string },
    heldTokens: string[],
  ): Promise<IssuedSession> {
    for (const token of heldTokens) {
      const id = this.sessions.idOf(token);
      if (id) {
        await this.sessions.revoke(id, { reason: 'login', actor: actorOf(user) });
      }
    }
    return this.createSession(user, meta);
  }

  /**
   * Creates the session with the user's roles as they are now, never as they were when the
   * password check began. The revocation generation is read before the user is read again: a
   * role change, revoke-all or password change that lands after that read moves it, and the
   * store then refuses the session; one retry reads everything again, a second refusal is a
   * 503. A password that changed while this one was being checked is a failed login.
   */
  private async createSession(verified: User, meta: SessionMeta): Promise<IssuedSession> {
    for (let attempt = 1; ; attempt++) {
      const generation = await this.sessions.generationOf(verified.id);
      const current = await this.users.findById(verified.id);
      if (!current || current.disabled || current.passwordHash !== verified.passwordHash) {
        throw new UnauthorizedException(INVALID_CREDENTIALS);
      }
      const user = { id: current.id, username: current.username, roles: current.roles };
      try {
        return await this.sessions.create(user, meta, { generation });
      } catch (error) {
        if (!(error instanceof SessionUserChangedError) || attempt >= 2) {
          throw error;
        }
      }
    }
  }

  async logout(session: Session): Promise<void> {
    await this.sessions.revoke(session.id, {
      ownerId: session.userId,
      reason: 'logout',
      actor: { id: session.userId, username: session.username },
    });
  }

  /**
   * Changes the password, then, in one atomic step, rotates the caller's session (new token,
   * old one dead) and revokes every other session of the user: whoever knew the old password
   * is out. The password is saved first, so a login racing the change either fails its
   * re-check of the password or is refused by the moved revocation generation. When the
   * caller's session was revoked meanwhile, the password is changed all the same, every
   * session of the user is revoked, and the answer is 401: sign in with the new password.
   */
  async changePassword(
    session: Session,
    token: string,
    passwords: { currentPassword: string; newPassword: string },
    ip: string,
  ): Promise<IssuedSession> {
    await this.throttle.assertAllowed(session.username, ip);
    const user = await this.users.verifyCredentials(session.username, passwords.currentPassword);
    if (!user || user.id !== session.userId) {
      await this.throttle.recordFailure(session.username, ip);
      throw new ForbiddenException('Current password is incorrect');
    }
    await this.users.setPassword(user, passwords.newPassword);
    const rotated = await this.sessions.rotate(token, {
      revokeOthersOf: user.id,
      reason: 'password-change',
      actor: actorOf(user),
    });
    if (!rotated) {
      throw new UnauthorizedException('Authentication required');
    }
    return rotated;
  }
}

function actorOf(user: Pick<User, 'id' | 'username'>): SessionEventActor {
  return { id: user.id, username: user.username };
}
