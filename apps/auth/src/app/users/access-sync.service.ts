import { Injectable, Logger, OnApplicationBootstrap, OnModuleDestroy } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { Repository } from 'typeorm';

import { parseSessionId, Session, SessionService } from '@cloakroom/session';

import { AuthEnv } from '../config/auth.env';
import { AdminLock } from './admin-lock';
import { User } from './entities/user.entity';
import { PASSWORD_STAMP, passwordStamp } from './password-stamp';

/** Users one look takes; more are taken by the next look, right after. */
export const ACCESS_SYNC_BATCH = 50;

/** The first retry after a change could not be applied; each failure doubles the wait. */
const FIRST_RETRY_MS = 100;

/**
 * Brings the sessions of every marked user in line with their row. `accessPending`: the roles
 * the row holds, or no session at all when the account is disabled. `sessionsRevokePending`:
 * the password changed and the other sessions may not have been revoked, so every session of
 * the old password is: those stamped with another password than the row's (`PASSWORD_STAMP`),
 * and, unstamped, those created before the change (`sessionsRevokeBefore`) that have not
 * re-authenticated since, but the one that made the change (`sessionsRevokeKeep`), followed to
 * the id the change's rotation gave it. A look landing between the change's rotation and its
 * clearing of the mark must not end the session the change answers with, nor may one, however
 * late, end those logged in with the new password while the mark stayed. A change
 * whose sessions' update failed, timed out or was never sent (auth stopped between the two
 * writes) is marked in the same write as the change, so it is found here by any auth
 * instance, after any outage or restart, and not only by the process that made it.
 *
 * Looks at start-up, every `ACCESS_SYNC_INTERVAL` seconds, and soon after a change could not
 * be applied (100 ms, doubling up to the interval while Redis keeps failing). Each user is
 * applied under the admin lock from the row as it then is, so a newer change is never
 * overwritten by an older one; applying twice gives what applying once does.
 */
@Injectable()
export class AccessSync implements OnApplicationBootstrap, OnModuleDestroy {
  private readonly logger = new Logger('AccessSync');
  private readonly intervalMs: number;
  private timer?: NodeJS.Timeout;
  private dueAt = Infinity;
  private looking?: Promise<void>;
  /** A look was asked for while one ran: look again once it ends. */
  private again = false;
  /** The wait before the next retry while looks fail; undefined: the regular interval. */
  private retryMs?: number;
  private failing = false;
  private stopped = false;
  /**
   * Per user, the session a password change of this process rotated to, by the hash it set,
   * while its mark could not be cleared: kept in place of the id the row names, whose forward
   * to it lasts only a minute.
   */
  private readonly rotatedTo = new Map<string, { passwordHash: string; id: string }>();

  constructor(
    @InjectRepository(User) private readonly users: Repository<User>,
    private readonly lock: AdminLock,
    private readonly sessions: SessionService,
    env: AuthEnv,
  ) {
    this.intervalMs = env.ACCESS_SYNC_INTERVAL * 1000;
  }

  onApplicationBootstrap(): void {
    this.lookIn(0);
  }

  async onModuleDestroy(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.looking;
  }

  /** A change could not be applied to the sessions: look again soon, and keep trying. */
  soon(): void {
    this.retryMs ??= FIRST_RETRY_MS;
    this.lookIn(FIRST_RETRY_MS);
  }

  /**
   * A password change setting `passwordHash` rotated its session to `id` but left its mark: a
   * look keeps `id` rather than the session the row names, however late it comes.
   */
  rotated(userId: string, passwordHash: string, id: string): void {
    this.rotatedTo.set(userId, { passwordHash, id });
  }

  /**
   * Brings every marked user's sessions in line, oldest change first; answers how many users.
   * Stops at the first failure (Redis is likely down for all of them) and rejects with it.
   */
  async applyPending(): Promise<number> {
    let applied = 0;
    for (;;) {
      const batch = await this.users.find({
        select: { id: true },
        where: [{ accessPending: true }, { sessionsRevokePending: true }],
        order: { updatedAt: 'ASC' },
        take: ACCESS_SYNC_BATCH,
      });
      for (const { id } of batch) {
        if (this.stopped) return applied;
        if (await this.applyStored(id)) applied++;
      }
      if (batch.length < ACCESS_SYNC_BATCH) return applied;
    }
  }

  /** Under the lock: the row to its sessions, then the marks cleared. */
  private applyStored(id: string): Promise<boolean> {
    return this.lock.run(async (manager) => {
      const users = manager.getRepository(User);
      const user = await users.findOneBy({ id });
      if (!user?.accessPending && !user?.sessionsRevokePending) return false;
      if (user.sessionsRevokePending) {
        await this.revokeOldPassword(user);
        // Only if no password change landed since: it may have come after the revocation.
        await users.update(
          { id, passwordHash: user.passwordHash },
          { sessionsRevokePending: false, sessionsRevokeKeep: null, sessionsRevokeBefore: null },
        );
        // A change that landed since may have left a session of its own to keep.
        if (this.rotatedTo.get(id)?.passwordHash === user.passwordHash) {
          this.rotatedTo.delete(id);
        }
      }
      if (user.accessPending) {
        if (user.disabled) {
          await this.sessions.revokeAllForUser(user.id, { reason: 'disable' });
        } else {
          await this.sessions.setRolesForUser(user.id, user.roles);
        }
        await users.update({ id }, { accessPending: false });
      }
      return true;
    });
  }

  /**
   * Revokes the sessions of the password a marked change replaced, but the one the change
   * keeps: those stamped with another password than the row's (see `ofOldPassword`), and those
   * without a stamp created before the change that have not proved who they are since. A mark
   * without that instant (written before it was recorded) revokes all but the one kept.
   */
  private async revokeOldPassword(user: User): Promise<void> {
    const keep = this.keptBy(user);
    const before = user.sessionsRevokeBefore;
    if (before === null) {
      await this.sessions.revokeAllForUser(user.id, { reason: 'password-change', except: keep });
      return;
    }
    const sessions = await this.sessions.listForUser(user.id);
    // A change landing during the look (it takes no lock) stamps the sessions it keeps with a
    // password newer than `user`'s: the row read after the listing names it.
    const stored = await this.users.findOne({
      select: { id: true, passwordHash: true },
      where: { id: user.id },
    });
    const current = new Set([user.passwordHash, stored?.passwordHash ?? user.passwordHash]);
    const stamps = new Set([...current].map(passwordStamp));
    for (const session of sessions) {
      if (session.id !== keep && ofOldPassword(session, stamps, before)) {
        await this.sessions.revoke(session.id, { ownerId: user.id, reason: 'password-change' });
      }
    }
  }

  /**
   * The session a password change's mark keeps: the one this process rotated it to, else the
   * one the row names; none when the row names none, or garbage.
   */
  private keptBy(user: User): string | undefined {
    const rotated = this.rotatedTo.get(user.id);
    if (rotated?.passwordHash === user.passwordHash) {
      return rotated.id;
    }
    const keep = user.sessionsRevokeKeep;
    if (keep && !parseSessionId(keep)) {
      this.logger.warn(`User ${user.id} names no session to keep: revoking all of them`);
      return undefined;
    }
    return keep ?? undefined;
  }

  private lookIn(ms: number): void {
    if (this.stopped) return;
    const at = performance.now() + ms;
    if (this.timer && this.dueAt <= at) return;
    clearTimeout(this.timer);
    this.dueAt = at;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.dueAt = Infinity;
      this.look();
    }, ms);
    // A pending look must not keep a stopping process alive.
    this.timer.unref();
  }

  private look(): void {
    if (this.looking) {
      this.again = true;
      return;
    }
    this.again = false;
    this.looking = this.applyPending()
      .then((applied) => {
        if (this.failing || applied) {
          this.logger.log(`Sessions brought in line with the database for ${applied} user(s)`);
        }
        this.failing = false;
        this.retryMs = undefined;
      })
      .catch((error: unknown) => {
        if (!this.failing) {
          this.logger.warn(
            `Sessions could not be brought in line with the database, trying again: ${(error as Error)?.message ?? error}`,
          );
        }
        this.failing = true;
      })
      .finally(() => {
        this.looking = undefined;
        if (this.again) {
          this.lookIn(0);
        } else if (this.failing && this.retryMs !== undefined) {
          this.retryMs = Math.min(this.retryMs * 2, this.intervalMs);
          this.lookIn(this.retryMs);
        } else {
          this.lookIn(this.intervalMs);
        }
      });
  }
}

/**
 * Whether a session proved a password older than those whose stamps are `current`. Its stamp
 * says which password it proved, whenever it was created: a login that checked the old
 * password a moment before the change landed creates its session after the change's instant,
 * and a re-authentication that did refreshes `authenticatedAt` past it. A session without a
 * stamp (created before stamps were recorded) is judged by time: created before the change,
 * `before`, and not re-authenticated since.
 */
function ofOldPassword(session: Session, current: Set<string>, before: number): boolean {
  const stamp = session.attributes[PASSWORD_STAMP];
  if (typeof stamp === 'string') {
    return !current.has(stamp);
  }
  return session.createdAt < before && session.authenticatedAt < before;
}
