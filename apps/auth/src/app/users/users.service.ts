import { randomUUID } from 'node:crypto';
import {
  BadRequestException,
  ConflictException,
  ForbiddenException,
  Injectable,
  Logger,
  NotFoundException,
} from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { EntityManager, QueryFailedError, Repository } from 'typeorm';

import { SessionService } from '@cloakroom/session';

import { PasswordWorkBusyException } from '../common/password-work-busy.exception';
import { AccessSync } from './access-sync.service';
import { AdminLock, AdminLockHold } from './admin-lock';
import { CreateUserDto } from './dto/create-user.dto';
import { User } from './entities/user.entity';
import { OutcomeUnknownException } from './outcome-unknown.exception';
import { normalizePassword } from './password-policy';
import { normalizeUsername } from './username';
import { PasswordService, PasswordWorkSource } from './password.service';
import { OutcomeUnknownError, writeFindingOut } from './server-process';

/** Users per page of the admin console's list. */
export const USERS_PAGE_SIZE = 25;

/** The role that administers users; at least one enabled account must keep it. */
export const ADMIN_ROLE = 'admin';

/** A cursor is the last username of the previous page, base64url-encoded. */
const CURSOR_USERNAME = /^[a-z0-9._-]{1,64}$/;

/** A page of the user list; `next` is null on the last page. */
export interface UserPage {
  items: User[];
  next: string | null;
}

/** What a password check found: the account the username names (if any) and the verdict. */
export interface CredentialCheck {
  user: User | null;
  valid: boolean;
}

/** An administrator's change to who may sign in, or to roles. */
export type AccessChange = { roles: string[] } | { disabled: boolean };

/** What an access change changes: the roles, and whether the account is disabled. */
type Access = Pick<User, 'roles' | 'disabled'>;

/**
 * The access a change was decided from, and its version (`User.accessVersion`): the change is
 * the one out of that version, whoever reports it.
 */
export type AccessBefore = Access & { version: number };

/** Why an access change is refused, decided before anything is written. */
type AccessVerdict = { ok: true; user: User; before: AccessBefore } | { ok: false; error: Error };

/**
 * An access change answered {@link OutcomeUnknownException}, with what it was decided from:
 * whether it stands is read from the row later (its version moved past `before.version`).
 */
export class AccessOutcomeUnknownException extends OutcomeUnknownException {
  constructor(
    userId: string,
    cause: unknown,
    readonly before: AccessBefore,
  ) {
    super(`the access change of user ${userId}`, cause);
  }
}

/** A password change's mark: the other sessions may not have been revoked yet. */
type RevocationMark = Pick<
  User,
  'sessionsRevokePending' | 'sessionsRevokeKeep' | 'sessionsRevokeBefore'
>;

/** Whether a write of access stands: if not, the error it was lost with (nothing changed). */
type Written = { landed: true } | { landed: false; error: unknown };

@Injectable()
export class UsersService {
  private readonly logger = new Logger(UsersService.name);

  constructor(
    @InjectRepository(User) private readonly users: Repository<User>,
    private readonly passwords: PasswordService,
    private readonly adminLock: AdminLock,
    private readonly accessSync: AccessSync,
    private readonly sessions: SessionService,
  ) {}

  findByUsername(username: string): Promise<User | null> {
    return this.users.findOneBy({ username: normalizeUsername(username) });
  }

  findById(id: string): Promise<User | null> {
    return this.users.findOneBy({ id });
  }

  count(): Promise<number> {
    return this.users.count();
  }

  /**
   * One page of users in username order, optionally only those whose username contains
   * `search` (case-insensitive; `%` and `_` are matched literally). Keyset paging: the cursor
   * is the last username shown, so users created or deleted meanwhile never shift a page.
   * A cursor this service did not make is a 400.
   */
  async list(options: { search?: string; cursor?: string }): Promise<UserPage> {
    const query = this.users
      .createQueryBuilder('user')
      .orderBy('user.username', 'ASC')
      .limit(USERS_PAGE_SIZE + 1);
    if (options.cursor !== undefined) {
      query.andWhere('user.username > :after', { after: decodeCursor(options.cursor) });
    }
    if (options.search) {
      // Usernames are stored lower-cased; an explicit ESCAPE works on SQLite and PostgreSQL.
      query.andWhere("user.username LIKE :pattern ESCAPE '\\'", {
        pattern: `%${escapeLike(options.search.toLowerCase())}%`,
      });
    }
    const rows = await query.getMany();
    const items = rows.slice(0, USERS_PAGE_SIZE);
    const last = items[items.length - 1];
    return {
      items,
      next: rows.length > USERS_PAGE_SIZE && last ? encodeCursor(last.username) : null,
    };
  }

  /**
   * Creates a user. The password policy is the caller's to apply: the admin API does, the
   * demo users (documented passwords) are seeded as they are.
   *
   * With `creatorId` (an administrator's request), the row is written under the admin lock
   * once the creator is found to be an enabled admin still (else 403): a creation is a grant
   * of access, and one that was let in before its creator was demoted or disabled must not
   * land after that change was answered (a new admin account would keep them admin).
   */
  async create(input: CreateUserDto, creatorId?: string): Promise<User> {
    const username = normalizeUsername(input.username);
    if (await this.users.existsBy({ username })) {
      throw new ConflictException('Username already taken');
    }
    const user = this.users.create({
      id: randomUUID(),
      username,
      passwordHash: await this.passwords.hash(normalizePassword(input.password)),
      roles: [...new Set(input.roles)],
    });
    if (creatorId === undefined) {
      return this.insert(this.users, user);
    }
    return this.asEnabledAdmin(creatorId, (manager) =>
      this.insert(manager.getRepository(User), user),
    );
  }

  /**
   * Runs an administrator's action under the admin lock, once the caller's row says they are
   * still an enabled administrator (403 otherwise). The session that let the request in said
   * admin when it was read, but a demotion or a disable may have landed since, while the
   * request was on its way: under the lock, one that landed first is seen here, and one that
   * comes later waits until the action is done.
   *
   * @example
   * await users.asEnabledAdmin(admin.userId, () => sessions.revokeAllForUser(id));
   */
  asEnabledAdmin<T>(callerId: string, work: (manager: EntityManager) => Promise<T>): Promise<T> {
    return this.adminLock.run(async (_manager, hold) => {
      const caller = await hold.manager.getRepository(User).findOneBy({ id: callerId });
      if (!caller || !isEnabledAdmin(caller)) {
        throw new ForbiddenException('Missing role');
      }
      return work(hold.manager);
    });
  }

  /**
   * One INSERT, committed on its own before the user is answered. Never `save`: on SQLite
   * TypeORM runs every request's queries on one connection, and `save`'s transaction took in
   * the writes made meanwhile (a password change, a role change, another creation), answered
   * before it committed and rolled back with it when its name was taken.
   */
  private async insert(users: Repository<User>, user: User): Promise<User> {
    try {
      await users.insert(user);
      return user;
    } catch (error) {
      // Two concurrent creations of one name: the unique index decides, the loser gets 409.
      if (error instanceof QueryFailedError && /unique/i.test(error.message)) {
        throw new ConflictException('Username already taken');
      }
      throw error;
    }
  }

  /**
   * Applies an administrator's change of roles or of the disabled flag, refusing (409) one
   * that would take the caller's own admin role or account, or leave no enabled
   * administrator; a caller who is no longer an enabled admin is refused (403). `apply` runs
   * once the row is saved (the sessions' roles, a revocation), still under the admin lock, so
   * two changes reach the database and the sessions in the same order; and after the write is
   * committed, so a login that reads the roles after `apply` moved the revocation generation
   * reads the new ones.
   *
   * Race-safe: the check, the write and `apply` run under one lock (`AdminLock`), so two admins
   * demoting each other at once cannot both pass the "the caller is an enabled admin" check.
   * The change is a single row write, so no transaction is needed around it; a refusal
   * writes nothing.
   *
   * The write also marks the row `accessPending`, cleared once `apply` is answered: should
   * auth stop between the two, or the mark's clearing fail, `AccessSync` (any instance, any
   * time later) applies the row to the sessions. When `apply` fails (the session store timed
   * out or is down: a 503), the row is put back as it was, still marked, and `apply` runs
   * again for it under the lock: the answer says nothing changed, so neither may the
   * database, and a store that stalled rather than failed runs the first `apply` late but
   * this one right after it (same connection, in order).
   *
   * A write whose answer PostgreSQL lost (the connection broke or went quiet after the query
   * went out) is read back under the lock taken again (see `write`): the change goes on if it
   * landed, and is a 503 if it did not. A change whose outcome cannot be learnt in time (the
   * database stayed out of reach), or whose put-back cannot be written, is answered
   * {@link AccessOutcomeUnknownException}, never a 503, and `AccessSync` applies the row as it
   * stands.
   *
   * Every write moves the row's `accessVersion`, so a change is named by the version it was
   * decided from (`before.version`): two reports of one change (its answer, and a look after
   * that answer was lost) name the same one, and a later change names another.
   */
  async changeAccess(
    id: string,
    callerId: string,
    change: AccessChange,
    apply: (user: User) => Promise<void>,
  ): Promise<{ user: User; before: AccessBefore }> {
    const verdict = await this.adminLock.run(async (_manager, hold) => {
      const result = await this.decideAccessChange(hold.manager, id, callerId, change);
      if (result.ok) {
        await this.carryOut(hold, result.user, result.before, apply).catch((error: unknown) => {
          if (error instanceof OutcomeUnknownError) {
            this.accessSync.soon();
            throw new AccessOutcomeUnknownException(id, error, result.before);
          }
          throw error;
        });
      }
      return result;
    });
    if (!verdict.ok) {
      throw verdict.error;
    }
    return { user: verdict.user, before: verdict.before };
  }

  /** `changeAccess` once decided: the write, `apply`, and the put-back should `apply` fail. */
  private async carryOut(
    hold: AdminLockHold,
    user: User,
    before: AccessBefore,
    apply: (user: User) => Promise<void>,
  ): Promise<void> {
    const earlierPending = user.accessPending;
    const after = { roles: user.roles, disabled: user.disabled };
    const written = await this.write(hold, user, after);
    if (!written.landed) {
      throw written.error;
    }
    try {
      await apply(user);
    } catch (error) {
      const was = { roles: before.roles, disabled: before.disabled };
      await this.putBack(hold, user, was, after, apply, earlierPending).catch((failure) => {
        this.logger.error(
          `Access change of user ${user.id} failed and could not be put back: ${failure}`,
        );
        // The row may keep the change, marked: not a 503, and applied as soon as can be.
        this.accessSync.soon();
        throw new AccessOutcomeUnknownException(user.id, failure, before);
      });
      throw error;
    }
    await this.settled(hold, user, earlierPending);
  }

  /**
   * Writes `to`, marked, over the user's row under the lock. A write whose connection was lost
   * before its answer came may or may not have committed (or be on its way still): the lock is
   * taken again on a new connection, the lost one's server process ended first (so nothing
   * sent on it can still run), and the row read back. It landed when the row holds `to`; when
   * it holds `over` (a put-back's starting point) the write goes again; anything else means it
   * did not land, or another instance's change landed after it (the lock was lost meanwhile),
   * which then stands. Rejects with `OutcomeUnknownError` when the database stays out of reach.
   */
  private async write(
    hold: AdminLockHold,
    user: User,
    to: Access,
    over?: Access,
  ): Promise<Written> {
    for (;;) {
      Object.assign(user, to, { accessPending: true });
      let lost: unknown;
      try {
        // One UPDATE, not `save` (a SELECT and an UPDATE in a transaction of its own: see
        // `insert`); the row was read under the lock.
        await hold.manager.getRepository(User).update(
          { id: user.id },
          {
            roles: to.roles,
            disabled: to.disabled,
            accessPending: true,
            accessVersion: () => 'access_version + 1',
          },
        );
        return { landed: true };
      } catch (error) {
        if (!hold.lost(error)) throw error;
        lost = error;
      }
      const row = await this.readAgain(hold, user.id);
      if (row && sameAccess(row, to)) {
        Object.assign(user, row);
        return { landed: true };
      }
      if (!row || !over || !sameAccess(row, over)) {
        return { landed: false, error: lost };
      }
    }
  }

  /** The user's row, read under the lock taken again after a loss (and again, if need be). */
  private async readAgain(hold: AdminLockHold, id: string): Promise<User | null> {
    for (;;) {
      await hold.regain();
      try {
        return await hold.manager.getRepository(User).findOneBy({ id });
      } catch (error) {
        if (!hold.lost(error)) throw error;
      }
    }
  }

  /**
   * `changeAccess`'s undo: the row as it was (still marked), then `apply` for that. When that
   * `apply` fails too, the first may still have run (a stalled Redis runs both in order; a
   * connection that broke after Redis ran the first loses the undo with the first's answer),
   * so the mark stays and `AccessSync` applies the row until Redis answers. A row that another
   * instance changed meanwhile (the lock was lost) keeps that change.
   */
  private async putBack(
    hold: AdminLockHold,
    user: User,
    before: Access,
    after: Access,
    apply: (user: User) => Promise<void>,
    earlierPending: boolean,
  ): Promise<void> {
    if (!(await this.write(hold, user, before, after)).landed) {
      return;
    }
    try {
      await apply(user);
    } catch {
      this.accessSync.soon();
      return;
    }
    await this.settled(hold, user, earlierPending);
  }

  /**
   * After `apply` was answered: clears the row's mark, unless an earlier change was still
   * unapplied (this `apply` may not cover it: an enable applies nothing), which `AccessSync`
   * is asked to apply now. A mark that cannot be cleared only means one more `apply` later.
   */
  private async settled(hold: AdminLockHold, user: User, earlierPending: boolean): Promise<void> {
    if (earlierPending) {
      this.accessSync.soon();
      return;
    }
    try {
      await hold.manager.getRepository(User).update({ id: user.id }, { accessPending: false });
      user.accessPending = false;
    } catch (error) {
      this.logger.warn(`Access of user ${user.id} is applied but still marked pending: ${error}`);
    }
  }

  /**
   * Undoes `replacePassword` for a change that could not be completed: `previousHash` again,
   * with the mark `user` was read with (this change owes nothing, but an earlier one whose
   * revocation has not been done yet still does), unless yet another change landed since
   * (then that one stands, marked: false). Keeps `user` in step. When the old hash cannot
   * be written back (nor, its answer lost, found written), the new password stands, marked,
   * and `AccessSync` is asked to revoke the user's sessions: rejects with
   * {@link OutcomeUnknownException}, as the change must not be answered 503.
   */
  async restorePassword(user: User, previousHash: string): Promise<boolean> {
    let restored: boolean;
    try {
      restored = await this.swapPasswordHash(user, previousHash, {
        sessionsRevokePending: user.sessionsRevokePending,
        sessionsRevokeKeep: user.sessionsRevokeKeep,
        sessionsRevokeBefore: user.sessionsRevokeBefore,
      });
    } catch (error) {
      this.logger.error(`Could not restore the password of user ${user.id}: ${error}`);
      this.accessSync.soon();
      throw new OutcomeUnknownException(`the password change of user ${user.id}`, error);
    }
    if (!restored) {
      return false;
    }
    user.passwordHash = previousHash;
    return true;
  }

  /**
   * Replaces the password whose hash `user.passwordHash` holds — the one just verified — and
   * only it: false, and nothing written, when another change (or a rehash of another password)
   * landed since, so of two changes that both checked the old password only the first counts.
   * The same write marks the row `sessionsRevokePending` until `othersRevoked`, naming `keep`,
   * the id of the session making the change, and the instant, on the sessions' clock, just
   * before the write: should auth stop before the other sessions are revoked, or a look of
   * `AccessSync` land before the mark is cleared, every session of the user created before
   * that instant is revoked, but that one and those that re-authenticated since (the change's
   * rotation re-authenticates its session). Sessions logged in with the new password while
   * the mark stays are created after it: they stay.
   *
   * An UPDATE whose answer PostgreSQL lost (the connection broke, or went quiet, after it went
   * out) is found out about: its connection's server process ended, the row read. True when the
   * new hash is stored (the change goes on, as if answered); the loss's error (a 503) when it
   * is not. When the database stays out of reach, {@link OutcomeUnknownException}, never a 503
   * (the old password may no longer be the one that works), and `AccessSync` is asked to
   * revoke the sessions should the new one stand. The hashing counts toward the share of the
   * client network `ip` and of the user (see `PasswordService`).
   */
  async replacePassword(user: User, password: string, keep: string, ip?: string): Promise<boolean> {
    const passwordHash = await this.passwords.hash(
      normalizePassword(password),
      ip === undefined ? undefined : { ip, username: user.username },
    );
    let replaced: boolean;
    try {
      replaced = await this.swapPasswordHash(user, passwordHash, {
        sessionsRevokePending: true,
        sessionsRevokeKeep: keep,
        // Read before the write: any login that reads the new hash creates its session later.
        sessionsRevokeBefore: this.sessions.now(),
      });
    } catch (error) {
      if (error instanceof OutcomeUnknownError) {
        this.accessSync.soon();
        throw new OutcomeUnknownException(`the password change of user ${user.id}`, error);
      }
      throw error;
    }
    if (!replaced) {
      return false;
    }
    user.passwordHash = passwordHash;
    return true;
  }

  /**
   * Writes `next` in place of the hash `user.passwordHash` holds, with the revocation `mark`:
   * false, and nothing written, when another change landed since. A lost answer is found out
   * (`writeFindingOut`): true when `next` is stored.
   */
  private swapPasswordHash(user: User, next: string, mark: RevocationMark): Promise<boolean> {
    return writeFindingOut(
      this.users.manager.dataSource,
      async (manager) =>
        !!(
          await manager.update(
            User,
            { id: user.id, passwordHash: user.passwordHash },
            { passwordHash: next, ...mark },
          )
        ).affected,
      async (manager) => (await manager.findOneBy(User, { id: user.id }))?.passwordHash === next,
    );
  }

  /**
   * Clears `replacePassword`'s mark once the other sessions are revoked and the change's
   * session rotated to `kept`, if the password is still that change's: a later change keeps
   * its own mark. A mark left costs one more look of `AccessSync`, which finds nothing left to
   * revoke: the sessions older than the change are gone, `kept` re-authenticated after it (and
   * this process remembers it, as the row names the id before the rotation), and those logged
   * in since are newer.
   */
  async othersRevoked(user: User, kept: string): Promise<void> {
    await this.users
      .update(
        { id: user.id, passwordHash: user.passwordHash },
        { sessionsRevokePending: false, sessionsRevokeKeep: null, sessionsRevokeBefore: null },
      )
      .catch((error: unknown) => {
        this.accessSync.rotated(user.id, user.passwordHash, kept);
        this.logger.warn(`Sessions of user ${user.id} are revoked but still marked: ${error}`);
      });
  }

  /**
   * Checks a username and password. Unknown usernames cost one argon2 verification, as wrong
   * passwords do; a disabled account is invalid after the same work. The password is checked
   * in NFKC; a password stored before normalisation (typed in another form) is tried as typed
   * too, and rehashed normalised when it matches. Whether that second check runs depends on
   * the typed password only, never on the account, so timing says nothing about usernames.
   * Hashing saturated, or the client network `ip` or the username holding more than its share
   * of it: {@link PasswordWorkBusyException}, with `passwordUnchecked` when the refusal came
   * before the first check. The share is the typed username's, whether or not it exists.
   */
  async checkCredentials(
    username: string,
    password: string,
    ip?: string,
  ): Promise<CredentialCheck> {
    const user = await this.findByUsername(username);
    const normalized = normalizePassword(password);
    const source = ip === undefined ? undefined : { ip, username };
    let valid: boolean;
    try {
      valid = await this.passwords.verify(user?.passwordHash, normalized, source);
    } catch (error) {
      // Refused before any password was checked. The legacy check below, or the rehash after
      // a right password, refused later, keeps the default: the guess may have been weighed.
      throw error instanceof PasswordWorkBusyException
        ? new PasswordWorkBusyException(error.retryAfterSeconds, true, error.overShare)
        : error;
    }
    let legacy = false;
    if (!valid && normalized !== password) {
      legacy = valid = await this.passwords.verify(user?.passwordHash, password, source);
    }
    if (!valid || !user || user.disabled) {
      return { user, valid: false };
    }
    // Not while a password change's look is owed: a new hash is a new stamp (`passwordStamp`),
    // and the look would take the sessions of the new password for the old one's.
    if ((legacy || this.passwords.needsRehash(user.passwordHash)) && !user.sessionsRevokePending) {
      return { user, valid: await this.rehashPassword(user, normalized, source) };
    }
    return { user, valid: true };
  }

  /**
   * Stores a new hash of a password just verified against `user.passwordHash`, only if that
   * hash is still the stored one: a password change that landed during the check must not be
   * undone by the login that checked the old password. When another write came first, only
   * the stored hash tells whether it was a concurrent login redoing the same password (it still
   * holds) or a password change (it does not).
   */
  private async rehashPassword(
    user: User,
    normalized: string,
    source: PasswordWorkSource | undefined,
  ): Promise<boolean> {
    const passwordHash = await this.passwords.hash(normalized, source);
    const { affected } = await this.users.update(
      { id: user.id, passwordHash: user.passwordHash },
      { passwordHash },
    );
    if (affected) {
      user.passwordHash = passwordHash;
      return true;
    }
    const stored = await this.findById(user.id);
    if (!stored || !(await this.passwords.verify(stored.passwordHash, normalized, source))) {
      return false;
    }
    user.passwordHash = stored.passwordHash;
    return true;
  }

  private async decideAccessChange(
    manager: EntityManager,
    id: string,
    callerId: string,
    change: AccessChange,
  ): Promise<AccessVerdict> {
    const users = manager.getRepository(User);
    const caller = await users.findOneBy({ id: callerId });
    // The caller's session said admin when the request began; a demotion may have won the lock.
    if (!caller || !isEnabledAdmin(caller)) {
      return { ok: false, error: new ForbiddenException('Missing role') };
    }
    const user = id === callerId ? caller : await users.findOneBy({ id });
    if (!user) {
      return { ok: false, error: new NotFoundException('User not found') };
    }
    const before = { roles: [...user.roles], disabled: user.disabled, version: user.accessVersion };
    if ('roles' in change) {
      user.roles = [...new Set(change.roles)];
    } else {
      user.disabled = change.disabled;
    }
    if (id === callerId && !isEnabledAdmin(user)) {
      const message =
        'roles' in change
          ? 'You cannot remove your own admin role'
          : 'You cannot disable your own account';
      return { ok: false, error: new ConflictException(message) };
    }
    // The invariant itself, behind the two rules above that already imply it for one change.
    if (isEnabledAdmin({ ...user, ...before }) && !isEnabledAdmin(user)) {
      const others = await users
        .createQueryBuilder('user')
        .where('user.id <> :id', { id })
        .andWhere('user.roles LIKE :admin', { admin: `%"${ADMIN_ROLE}"%` })
        .getMany();
      if (!others.some(isEnabledAdmin)) {
        return {
          ok: false,
          error: new ConflictException('At least one enabled administrator must remain'),
        };
      }
    }
    return { ok: true, user, before };
  }
}

export function isEnabledAdmin(user: Pick<User, 'roles' | 'disabled'>): boolean {
  return !user.disabled && user.roles.includes(ADMIN_ROLE);
}

function sameAccess(a: Access, b: Access): boolean {
  const roles = (access: Access) => [...access.roles].sort().join('\n');
  return a.disabled === b.disabled && roles(a) === roles(b);
}

function escapeLike(text: string): string {
  return text.replace(/[\\%_]/g, (character) => `\\${character}`);
}

function encodeCursor(username: string): string {
  return Buffer.from(username, 'utf8').toString('base64url');
}

function decodeCursor(cursor: string): string {
  const username = /^[A-Za-z0-9_-]{1,88}$/.test(cursor)
    ? Buffer.from(cursor, 'base64url').toString('utf8')
    : '';
  if (!CURSOR_USERNAME.test(username)) {
    throw new BadRequestException('cursor is not one this list gave out');
  }
  return username;
}
