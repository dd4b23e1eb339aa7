import { ForbiddenException, Injectable, Logger, UnauthorizedException } from '@nestjs/common';

import { isDatabaseUnavailable } from '@cloakroom/service-kit';
import {
  IssuedSession,
  Session,
  SessionAttributesTooLargeError,
  SessionEventActor,
  SessionService,
  SessionStoreUnavailableError,
  SessionUserChangedError,
} from '@cloakroom/session';

import { ActivityType, SecurityActivityService } from '../activity/security-activity.service';
import { PasswordWorkBusyException } from '../common/password-work-busy.exception';
import { TooManyAttemptsException } from '../common/too-many-attempts.exception';
import { User } from '../users/entities/user.entity';
import { PASSWORD_STAMP, passwordStamp } from '../users/password-stamp';
import { PasswordPolicyService } from '../users/password-policy.service';
import { CredentialCheck, UsersService } from '../users/users.service';
import { DeviceTokenService } from './device-token.service';
import { LoginAttempt, LoginThrottleService } from './login-throttle.service';

/** One message whatever was wrong, so the answer never says whether the username exists. */
export const INVALID_CREDENTIALS = 'Invalid username or password';

/**
 * How often a login reads the user again when its session was refused because the account
 * changed meanwhile. Each refusal means another change landed within the few milliseconds
 * between a read and the write ("log out my other devices" clicked twice, a demotion, a
 * revoke-all): two in a row are an ordinary race, not an outage, and must not turn a right
 * password into a 503. Only a change landing in every one of these windows still does.
 */
export const SESSION_CREATE_TRIES = 5;

/**
 * How long the session of a re-authentication answered 503 is watched for the refresh its
 * rotation brings, should Redis run it late: past the store's grace for undoing a late rotation
 * (a minute), after which one landing would no longer come back to the session's token.
 */
export const ROTATION_OUTCOME_WATCH_MS = 70_000;

/** Who is asking, as the security activity log and the session list show it. */
export interface ClientInfo {
  ip: string;
  userAgent?: string;
  /** A short label of the user agent ("Chrome 131 on Windows"). */
  device: string;
  /** The device tokens the request presents, unchecked (never logged nor recorded). */
  deviceTokens: readonly string[];
}

/** A login whose password was right: the user, and a new device token for them. */
export interface VerifiedLogin {
  user: User;
  deviceToken: string;
}

/** What a login asks for besides the credentials. */
export interface LoginOptions {
  /** Tokens the client already held: revoked, so a planted session never gets promoted. */
  heldTokens: string[];
  rememberMe?: boolean;
  /** A session id of this user to end first (the answer to a 409 of the `refuse` cap policy). */
  replaceSession?: string;
}

@Injectable()
export class AuthService {
  private readonly logger = new Logger(AuthService.name);

  constructor(
    private readonly users: UsersService,
    private readonly sessions: SessionService,
    private readonly throttle: LoginThrottleService,
    private readonly policy: PasswordPolicyService,
    private readonly activity: SecurityActivityService,
    private readonly deviceTokens: DeviceTokenService,
  ) {}

  /**
   * Checks a login attempt: 429 when throttled, 401 (same body for every cause) when wrong.
   * Both are recorded in the security activity log, under the account when the username
   * names one. A right password earns a new device token, bound to the username and to the
   * epoch its attempt was counted in.
   */
  async verifyLogin(
    username: string,
    password: string,
    client: ClientInfo,
  ): Promise<VerifiedLogin> {
    const checked = await this.checkPassword(username, password, client, null);
    if (!checked) {
      throw new UnauthorizedException(INVALID_CREDENTIALS);
    }
    return {
      user: checked.user,
      deviceToken: this.deviceTokens.issue(checked.user.username, checked.epoch),
    };
  }

  /**
   * Starts a new session. Tokens the client already held are revoked first: a session
   * planted before login (fixation) never becomes an authenticated one. Runs only after the
   * password was verified, so `replaceSession` cannot be used to end sessions by a stranger.
   */
  async login(user: User, client: ClientInfo, options: LoginOptions): Promise<IssuedSession> {
    for (const token of options.heldTokens) {
      const id = this.sessions.idOf(token);
      if (id) {
        await this.sessions.revoke(id, { reason: 'login', actor: actorOf(user) });
      }
    }
    if (options.replaceSession) {
      // Only one of this user's own sessions; any other id is ignored (the cap may refuse again).
      await this.sessions.revoke(options.replaceSession, {
        ownerId: user.id,
        reason: 'self',
        actor: actorOf(user),
      });
    }
    return this.createSession(user, client, options.rememberMe === true);
  }

  async logout(session: Session): Promise<void> {
    await this.sessions.revoke(session.id, {
      ownerId: session.userId,
      reason: 'logout',
      actor: { id: session.userId, username: session.username },
    });
  }

  /**
   * A logout with a token that no longer validates: if it was rotated moments ago, the session
   * it moved to is revoked (the revocation follows the rotation); otherwise nothing happens.
   * Whose it was is not known here: the event names no one. Only a token counts, never a
   * session id presented in its place (ids are not secret: an id would end anyone's session).
   */
  async logoutRotated(token: string): Promise<void> {
    const id = this.sessions.idOf(token);
    if (id) {
      await this.sessions.revoke(id, { reason: 'logout' });
    }
  }

  /**
   * Step-up: the password again, throttled like a login, then the session is rotated (new
   * token, the old one dead at once) with `authenticatedAt` refreshed and its deadlines kept.
   * A wrong password is a 401 with the login's body; the session itself stays valid.
   */
  async reauthenticate(
    session: Session,
    token: string,
    password: string,
    client: ClientInfo,
  ): Promise<IssuedSession> {
    const user = (await this.checkPassword(session.username, password, client, session))?.user;
    if (!user || user.id !== session.userId) {
      throw new UnauthorizedException(INVALID_CREDENTIALS);
    }
    // The password proved, before `authenticatedAt` is refreshed: one checked just before a
    // password change landed is the old one, however late the rotation runs (see `AccessSync`).
    await this.stamp(token, user);
    let rotated: IssuedSession | null;
    try {
      rotated = await this.sessions.rotate(token, {
        reauthenticated: true,
        reason: 'reauthenticate',
        actor: actorOf(user),
      });
    } catch (error) {
      if (error instanceof SessionStoreUnavailableError) {
        this.recordIfRotated(session, user, client);
      }
      throw error;
    }
    if (!rotated) {
      throw new UnauthorizedException('Authentication required');
    }
    await this.record('reauthenticated', user.id, client, {
      actor: actorOf(user),
      sessionId: rotated.session.id,
    });
    return rotated;
  }

  /**
   * Changes the password, then, in one atomic step, rotates the caller's session (new token,
   * old one dead, `authenticatedAt` refreshed: the user just gave their password) and revokes
   * every other session of the user: whoever knew the old password is out. The new password
   * must pass the policy before anything is counted or hashed. The password is replaced only
   * if it is still the one checked: of two changes racing from the old password, the second
   * answers 403 and changes nothing (nor rotates). The password is saved first,
   * so a login racing the change either fails its re-check of the password or is refused by
   * the moved revocation generation. When the caller's session was revoked meanwhile, the
   * answer is 401 and the old password is put back (a 401 says nothing was done); the other
   * sessions the rotation revoked stay revoked. An account disabled before its password was
   * checked is a 401 too, not a 403 "incorrect": its sessions are gone. A change answered 200
   * comes with a device token of the new password (earlier ones are a stranger's now).
   */
  async changePassword(
    session: Session,
    token: string,
    passwords: { currentPassword: string; newPassword: string },
    client: ClientInfo,
  ): Promise<IssuedSession & { deviceToken: string }> {
    this.policy.assertAcceptable(passwords.newPassword, {
      username: session.username,
      currentPassword: passwords.currentPassword,
    });
    const user = (
      await this.checkPassword(session.username, passwords.currentPassword, client, session)
    )?.user;
    if (!user || user.id !== session.userId) {
      // An account disabled while this was checked has no session left: "incorrect" would send
      // its owner guessing at a password that was right.
      const current = await this.users.findById(session.userId);
      if (!current || current.disabled) {
        throw new UnauthorizedException('Authentication required');
      }
      throw new ForbiddenException('Current password is incorrect');
    }
    const previousHash = user.passwordHash;
    if (!(await this.users.replacePassword(user, passwords.newPassword, session.id, client.ip))) {
      throw new ForbiddenException('Current password is incorrect');
    }
    let rotated: IssuedSession | null;
    let epoch: string;
    try {
      // Networks remembered under the old password are strangers again (their guesses at the
      // new one wait past the ceiling); the one of this change stays remembered.
      epoch = await this.throttle.forgetNetworks(user.username, client.ip);
      // Before the rotation, which re-authenticates the session: once rotated, only its stamp
      // tells it from a login that proved the old password (`AccessSync`). Should the change be
      // undone, the session keeps the new stamp, and only an earlier change's look still owed
      // would end it.
      await this.stamp(token, user);
      rotated = await this.sessions.rotate(token, {
        revokeOthersOf: user.id,
        reauthenticated: true,
        reason: 'password-change',
        actor: actorOf(user),
      });
    } catch (error) {
      // A 503 means nothing changed: the old password stands again, since the other sessions
      // may not have been revoked (a stalled Redis may still revoke them, and rotate this one,
      // when it resumes: the store then undoes the rotation, and this session keeps its token).
      // Should the old one not go back, the answer is no 503 (see `restorePassword`). Networks
      // forgotten stay forgotten: their owner is only held back by the ceiling under attack.
      if (error instanceof SessionStoreUnavailableError) {
        await this.users.restorePassword(user, previousHash);
      }
      throw error;
    }
    if (!rotated) {
      // The session ended between the guard and here (a logout, a revocation, a login that
      // presented this token): the answer is 401, so the change must not stand — the old
      // password goes back. Only the other sessions' revocation stays: it takes access away.
      await this.users.restorePassword(user, previousHash);
      throw new UnauthorizedException('Authentication required');
    }
    // A re-authentication of this session that checked the old password may have stamped it
    // between the stamp above and the rotation. The new token is this change's alone: stamped
    // again, it stays so. Should that fail, a look would end the session: no reason for a 503.
    await this.stamp(rotated.token, user).catch((error: unknown) => {
      this.logger.warn(`Could not record the password of user ${user.id}'s session: ${error}`);
    });
    await this.users.othersRevoked(user, rotated.session.id);
    await this.record('password.changed', user.id, client, {
      actor: actorOf(user),
      sessionId: rotated.session.id,
    });
    // The device tokens it held are of the old epoch: without a new one the device that made
    // the change would wait past the ceiling, from any other network, like a stranger.
    return { ...rotated, deviceToken: this.deviceTokens.issue(user.username, epoch) };
  }

  /**
   * The throttled password check behind login, re-authentication and password change: the
   * attempt is counted before argon2 runs and refunded when the password is right. A device
   * token the client presents counts only if signed for this username. The user and the epoch
   * its attempt was counted in when right, else null; a refused or failed attempt is recorded
   * in the activity log.
   */
  private async checkPassword(
    username: string,
    password: string,
    client: ClientInfo,
    session: Session | null,
  ): Promise<{ user: User; epoch: string } | null> {
    const actor = session && { id: session.userId, username: session.username };
    const device = this.deviceTokens.recognize(client.deviceTokens, username);
    let attempt: LoginAttempt;
    try {
      attempt = await this.throttle.begin(username, client.ip, device);
    } catch (error) {
      // Recorded once per window and refusing counter: a flood of 429s must not flood the log,
      // whatever usernames or networks it comes with. A burst of attempts still being checked is
      // no sign of guessing: not recorded.
      if (
        error instanceof TooManyAttemptsException &&
        error.failures &&
        (await this.throttle.firstRefusal(username, client.ip, error.counter))
      ) {
        const userId = session?.userId ?? (await this.users.findByUsername(username))?.id;
        await this.record('login.throttled', userId ?? null, client, {
          actor,
          sessionId: session?.id,
        });
      }
      throw error;
    }
    let checked: CredentialCheck;
    try {
      checked = await this.users.checkCredentials(username, password, client.ip);
    } catch (error) {
      // A 503 before the password was weighed is no guess: it must not count toward a lockout.
      // Nor is one whose database failed, before or after: it says nothing of the password.
      if (
        (error instanceof PasswordWorkBusyException && error.passwordUnchecked) ||
        isDatabaseUnavailable(error)
      ) {
        await attempt.abandon();
      } else {
        await this.failed(attempt);
      }
      throw error;
    }
    const { user, valid } = checked;
    if (!valid || !user) {
      await this.failed(attempt);
      await this.record('login.failed', user?.id ?? null, client, {
        actor,
        sessionId: session?.id,
        reason: user?.disabled ? 'disabled' : session ? 'wrong-password' : undefined,
      });
      return null;
    }
    await attempt.succeed();
    return { user, epoch: attempt.epoch };
  }

  /**
   * Settles a failed attempt, so that attempts waiting for a place stop waiting for it. A
   * failure to say so is no reason to answer otherwise: the attempt stays counted either way,
   * and counts as failed once its check time has passed.
   */
  private async failed(attempt: LoginAttempt): Promise<void> {
    await attempt.fail().catch((error: unknown) => {
      this.logger.warn(`Could not mark a failed login attempt: ${error}`);
    });
  }

  /**
   * Creates the session with the user's roles as they are now, never as they were when the
   * password check began. The revocation generation is read before the user is read again: a
   * role change, revoke-all or password change that lands after that read moves it, and the
   * store then refuses the session; each refusal reads everything again, up to
   * {@link SESSION_CREATE_TRIES} tries, then a 503. A password that changed, or an account
   * disabled, while this one was being checked is a failed login, recorded as one: the 401 must
   * leave the trace any other failed login does.
   */
  private async createSession(
    verified: User,
    client: ClientInfo,
    persistent: boolean,
  ): Promise<IssuedSession> {
    const meta = {
      ip: client.ip,
      userAgent: client.userAgent,
      device: client.device,
      // The password checked, not the one read below: a change may land between the two reads
      // and the session's creation, and the session must still be one of the old password.
      attributes: { [PASSWORD_STAMP]: passwordStamp(verified.passwordHash) },
    };
    for (let attempt = 1; ; attempt++) {
      const generation = await this.sessions.generationOf(verified.id);
      const current = await this.users.findById(verified.id);
      if (!current || current.disabled || current.passwordHash !== verified.passwordHash) {
        await this.record('login.failed', verified.id, client, {
          actor: null,
          reason: current?.disabled ? 'disabled' : undefined,
        });
        throw new UnauthorizedException(INVALID_CREDENTIALS);
      }
      const user = { id: current.id, username: current.username, roles: current.roles };
      let issued: IssuedSession;
      try {
        issued = await this.sessions.create(user, meta, { generation, persistent });
      } catch (error) {
        if (!(error instanceof SessionUserChangedError) || attempt >= SESSION_CREATE_TRIES) {
          throw error;
        }
        continue;
      }
      await this.stillTheSamePassword(verified, issued, client);
      return issued;
    }
  }

  /**
   * Answers 401 for a session just created when the password it proved is no longer the
   * user's. A change whose rotation never ran (its instance stopped) moves no generation, and
   * its mark may be looked at and cleared (`AccessSync`) after the read above but before the
   * session was written: nothing else would end it. The token is never handed out; the session
   * is revoked so that it leaves the user's list. A change landing after this read finds the
   * session in Redis, and its rotation or look ends it by its stamp.
   */
  private async stillTheSamePassword(
    verified: User,
    issued: IssuedSession,
    client: ClientInfo,
  ): Promise<void> {
    let after: User | null;
    try {
      after = await this.users.findById(verified.id);
    } catch (error) {
      await this.sessions.revoke(issued.session.id, { ownerId: verified.id }).catch(() => false);
      throw error;
    }
    if (after && !after.disabled && after.passwordHash === verified.passwordHash) {
      return;
    }
    await this.sessions
      .revoke(issued.session.id, { ownerId: verified.id, reason: 'password-change' })
      .catch(() => false);
    await this.record('login.failed', verified.id, client, {
      actor: null,
      reason: after?.disabled ? 'disabled' : undefined,
    });
    throw new UnauthorizedException(INVALID_CREDENTIALS);
  }

  /**
   * A rotation answered 503 may have run (Redis stalled, or lost its answer) or still run later
   * (sent on a connection the store gave up): the store's undo then moves the session back to
   * its token, with `authenticatedAt` refreshed, and the session passes recent-auth checks as
   * after a 200 — the log owes the user that event. One that never reached Redis refreshed
   * nothing, and must not show the user a re-authentication that never happened. No answer
   * tells in time which it was, so the session is read in the background until it carries a
   * refreshed `authenticatedAt` (recorded, at the time of the request) or the store has stopped
   * undoing late rotations (nothing recorded).
   */
  private recordIfRotated(session: Session, user: User, client: ClientInfo): void {
    const giveUpAt = performance.now() + ROTATION_OUTCOME_WATCH_MS;
    this.activity.recordIfStands(
      {
        type: 'reauthenticated',
        userId: user.id,
        actor: actorOf(user),
        sessionId: session.id,
        ip: client.ip,
        device: client.device,
      },
      async () => {
        const now = await this.sessions.get(session.id);
        if (now && now.authenticatedAt > session.authenticatedAt) {
          return true;
        }
        // Missing may be mid-rotation (moved, not yet moved back): only time settles it.
        return performance.now() < giveUpAt ? undefined : false;
      },
    );
  }

  /**
   * Records on the token's session that it proved `user`'s stored password. A session whose
   * attributes are full keeps the stamp it had: it is then the one revoked should a look doubt
   * it, never one kept that should not be.
   */
  private async stamp(token: string, user: User): Promise<void> {
    try {
      await this.sessions.patch(token, { [PASSWORD_STAMP]: passwordStamp(user.passwordHash) });
    } catch (error) {
      if (!(error instanceof SessionAttributesTooLargeError)) throw error;
      this.logger.warn(`Session of user ${user.id} has no room to record its password`);
    }
  }

  private record(
    type: ActivityType,
    userId: string | null,
    client: ClientInfo,
    extra: { actor: SessionEventActor | null; sessionId?: string; reason?: string },
  ): Promise<void> {
    return this.activity.record({
      type,
      userId,
      actor: extra.actor,
      sessionId: extra.sessionId,
      ip: client.ip,
      device: client.device,
      reason: extra.reason,
    });
  }
}

function actorOf(user: Pick<User, 'id' | 'username'>): SessionEventActor {
  return { id: user.id, username: user.username };
}
