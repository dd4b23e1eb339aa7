import { ForbiddenException, Injectable, UnauthorizedException } from '@nestjs/common';

import { IssuedSession, Session, SessionService } from '@cloakroom/session';

import { SessionEventsPublisher } from '../sessions/session-events.publisher';
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
    private readonly events: SessionEventsPublisher,
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
    const revoked: string[] = [];
    for (const token of heldTokens) {
      const id = this.sessions.idOf(token);
      if (id && (await this.sessions.revoke(id))) {
        revoked.push(id);
      }
    }
    const issued = await this.sessions.create(
      { id: user.id, username: user.username, roles: user.roles },
      meta,
    );
    this.events.sessionsRevoked([...revoked, ...issued.evicted]);
    return issued;
  }

  async logout(session: Session): Promise<void> {
    if (await this.sessions.revoke(session.id)) {
      this.events.sessionsRevoked([session.id]);
    }
  }

  /**
   * Changes the password, then rotates the caller's session (new token, old one dead) and
   * revokes every other session of the user: whoever knew the old password is out.
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
    const rotated = await this.sessions.rotate(token);
    if (!rotated) {
      throw new UnauthorizedException('Authentication required');
    }
    await this.sessions.revokeAllForUser(user.id, { except: rotated.session.id });
    this.events.sessionsRevoked([session.id]);
    this.events.userSessionsRevoked(user.id, rotated.session.id);
    return rotated;
  }
}
