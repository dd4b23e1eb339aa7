import { createHash, randomUUID } from 'node:crypto';

import { Injectable, Logger, OnModuleDestroy } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { Brackets, Repository } from 'typeorm';

import { ActivityCursor, ActivityCursorCodec } from './activity-cursor';
import { SecurityEvent } from './entities/security-event.entity';

/**
 * The event types of DESIGN §3.2, also the `type` of `/activity` items; and one of our own,
 * {@link MISSED_EVENTS_TYPE}.
 */
export type ActivityType =
  | 'login'
  | 'login.failed'
  | 'login.throttled'
  | 'logout'
  | 'reauthenticated'
  | 'session.revoked'
  | 'session.expired'
  | 'session.evicted'
  | 'password.changed'
  | 'roles.changed'
  | 'user.disabled'
  | 'user.enabled'
  | 'sessions.revoked-all'
  | typeof MISSED_EVENTS_TYPE;

/**
 * A marker of session events the log may never have seen (the stream was trimmed past the
 * consumer's position, lost with Redis, or held an entry it could not read). It concerns every
 * user, so each one whose account existed then sees it, with the cause alone as its reason.
 */
export const MISSED_EVENTS_TYPE = 'events.missed';

/** Who did it: the user, an administrator; null for the system. */
export interface ActivityActor {
  id: string;
  username: string;
}

/**
 * An event to record. `userId` is the account it concerns: null for a login attempt with an
 * unknown username (kept for operators, shown to nobody through the API).
 */
export interface ActivityInput {
  type: ActivityType;
  userId: string | null;
  actor: ActivityActor | null;
  sessionId?: string;
  ip?: string;
  device?: string;
  reason?: string;
}

/**
 * Names an event that several may report (a change's own answer, and a look after that answer
 * was lost): `record` and `recordIfStands` given the same key store it once. Hashed to fit the
 * stream-id column whatever the parts.
 *
 * @example
 * await activity.record(event, { key: eventKey('access', userId, String(before.version)) });
 */
export function eventKey(...parts: string[]): string {
  return `app:${createHash('sha256').update(parts.join('\n')).digest('base64url')}`;
}

/** A stored event, as the routes list it (`at` as epoch milliseconds until serialised). */
export interface ActivityRecord {
  id: string;
  type: string;
  at: number;
  actor: ActivityActor | null;
  userId: string | null;
  sessionId?: string;
  ip?: string;
  device?: string;
  reason?: string;
}

export interface ActivityPage {
  items: ActivityRecord[];
  /** The cursor of the next (older) page; null on the last page. */
  next: string | null;
}

/**
 * Events recorded while the database refused them that are kept for a later try; past this,
 * the oldest are dropped (with a warning): an outage must not grow the process without bound.
 */
export const RECORD_BACKLOG_LIMIT = 10_000;

/** The longest wait between two tries of the events kept while the database is away. */
const RECORD_RETRY_MAX_MS = 5_000;

/** Kept rows one background try inserts: well under SQLite's limit on bound parameters. */
const RECORD_BATCH = 50;

/** Events per page of `/activity`. */
export const ACTIVITY_PAGE_SIZE = 50;

/**
 * Event types that concern every user at once (stored with a null `userId`): a user's activity
 * (their own view and an administrator's) shows those that happened while the account existed.
 */
const EVERYONE_TYPES: ActivityType[] = ['sessions.revoked-all', MISSED_EVENTS_TYPE];

/**
 * The security activity log: records events and pages through one user's, newest first.
 *
 * @example
 * await activity.record({ type: 'login.failed', userId: user.id, actor: null, ip });
 */
@Injectable()
export class SecurityActivityService implements OnModuleDestroy {
  private readonly logger = new Logger('SecurityActivity');
  /** Rows the database refused, oldest first, tried again until they land. */
  private backlog: Omit<SecurityEvent, 'id'>[] = [];
  private retrying?: Promise<void>;
  private wakeRetry?: () => void;
  /** Events waiting to learn whether the change they report stands (see `recordIfStands`). */
  private readonly undecided = new Set<Promise<void>>();
  private readonly wakeUndecided = new Set<() => void>();
  private stopped = false;

  constructor(
    @InjectRepository(SecurityEvent) private readonly events: Repository<SecurityEvent>,
    private readonly cursors: ActivityCursorCodec,
  ) {}

  /** One last try of what the database refused, then what is still kept is reported lost. */
  async onModuleDestroy(): Promise<void> {
    this.stopped = true;
    this.wakeRetry?.();
    for (const wake of this.wakeUndecided) wake();
    await Promise.all([this.retrying, ...this.undecided]);
    while (this.backlog.length && (await this.insertOldest())) {
      // Until all is stored or the database refuses again.
    }
    if (this.backlog.length) {
      this.logger.error(`${this.backlog.length} security events were never stored`);
    }
  }

  /**
   * Persists one event; never throws (an unavailable log must not lock users out or hide the
   * answer they are owed). An event the database refuses is kept and tried again in the
   * background until it lands, so that an outage of a moment loses nothing: each event carries
   * a key of its own (`streamId` `app:<uuid>`, or `key`: see {@link eventKey}), so a try whose
   * answer was lost but that landed and its retry make one row.
   *
   * @example
   * await activity.record({ type: 'password.changed', userId: user.id, actor: { id, username } });
   */
  async record(event: ActivityInput, options: { key?: string } = {}): Promise<void> {
    await this.store(toRow(event, Date.now(), options.key ?? `app:${randomUUID()}`));
  }

  /**
   * Records an event of a change answered with an unknown outcome (a 504 `outcome_unknown`:
   * the database lost the answer; or a 503 whose write Redis may still run), once `stands` tells
   * that the change was made: the row, or the session, holds what it says, so the log owes it
   * the event a change answered 200 gets. Asked in the background, again and again while it
   * rejects (the database is still away) or answers undefined (not known yet), until shutdown;
   * nothing is recorded when it answers false. The event keeps the time of the request. With
   * `key`, it is stored once with any other report of the same change (see {@link eventKey}).
   *
   * @example
   * activity.recordIfStands(
   *   { type: 'user.disabled', userId: id, actor },
   *   async () => (await users.findById(id))?.disabled === true,
   * );
   */
  recordIfStands(
    event: ActivityInput,
    stands: () => Promise<boolean | undefined>,
    options: { key?: string } = {},
  ): void {
    const row = toRow(event, Date.now(), options.key ?? `app:${randomUUID()}`);
    const decided: Promise<void> = this.untilAnswered(stands)
      .then((stood) => {
        if (stood === null) {
          this.logger.error(`A ${row.type} event was dropped: whether it happened is not known`);
        } else if (stood) {
          return this.store(row);
        }
        return undefined;
      })
      .finally(() => this.undecided.delete(decided));
    this.undecided.add(decided);
  }

  private async store(row: Omit<SecurityEvent, 'id'>): Promise<void> {
    try {
      await this.insert([row]);
    } catch (error) {
      this.keep(row, error);
    }
  }

  /** `ask`'s answer, asked with a growing pause while it rejects or has none; null at shutdown. */
  private async untilAnswered(ask: () => Promise<boolean | undefined>): Promise<boolean | null> {
    for (let attempt = 0; !this.stopped; attempt++) {
      const answer = await ask().catch(() => undefined);
      if (answer !== undefined) {
        return answer;
      }
      await new Promise<void>((resolve) => {
        const wake = () => {
          clearTimeout(timer);
          this.wakeUndecided.delete(wake);
          resolve();
        };
        const timer = setTimeout(wake, Math.min(100 * 2 ** attempt, RECORD_RETRY_MAX_MS));
        // A question waiting for an answer must not keep a stopping process alive.
        timer.unref();
        this.wakeUndecided.add(wake);
      });
    }
    return null;
  }

  /**
   * One page of a user's events, newest first. With `includeEveryone`, events that concerned
   * every user and happened since `since` are interleaved.
   * Keyset paging on `(at, id)`: events inserted meanwhile never shift later pages, so no
   * event is listed twice or skipped. `next` is bound to `userId` (see
   * {@link ActivityCursorCodec}).
   */
  async list(
    userId: string,
    cursor: ActivityCursor | null,
    options: { includeEveryone?: { since: number } } = {},
  ): Promise<ActivityPage> {
    const query = this.events.createQueryBuilder('e');
    const everyone = options.includeEveryone;
    if (everyone) {
      query.where(
        new Brackets((owner) =>
          owner
            .where('e.userId = :userId', { userId })
            .orWhere(
              new Brackets((global) =>
                global
                  .where('e.userId IS NULL')
                  .andWhere('e.type IN (:...everyoneTypes)', { everyoneTypes: EVERYONE_TYPES })
                  .andWhere('e.at >= :since', { since: everyone.since }),
              ),
            ),
        ),
      );
    } else {
      query.where('e.userId = :userId', { userId });
    }
    if (cursor) {
      query.andWhere(
        new Brackets((older) =>
          older
            .where('e.at < :cursorAt', { cursorAt: cursor.at })
            .orWhere(
              new Brackets((same) =>
                same
                  .where('e.at = :cursorAt', { cursorAt: cursor.at })
                  .andWhere('e.id < :cursorId', { cursorId: cursor.id }),
              ),
            ),
        ),
      );
    }
    const rows = await query
      .orderBy('e.at', 'DESC')
      .addOrderBy('e.id', 'DESC')
      .limit(ACTIVITY_PAGE_SIZE + 1)
      .getMany();
    const items = rows.slice(0, ACTIVITY_PAGE_SIZE).map(toRecord);
    const last = items[items.length - 1];
    return {
      items,
      next:
        rows.length > ACTIVITY_PAGE_SIZE && last
          ? this.cursors.encode({ at: last.at, id: Number(last.id) }, userId)
          : null,
    };
  }

  private async insert(rows: Omit<SecurityEvent, 'id'>[]): Promise<void> {
    await this.events
      .createQueryBuilder()
      .insert()
      .values(rows)
      .orIgnore()
      .updateEntity(false)
      .execute();
  }

  /** Keeps a refused row for the background tries (one warning per outage). */
  private keep(row: Omit<SecurityEvent, 'id'>, error: unknown): void {
    if (!this.backlog.length) {
      this.logger.warn(
        `Could not record a ${row.type} event, retrying: ${(error as Error)?.message ?? error}`,
      );
    }
    this.backlog.push(row);
    if (this.backlog.length > RECORD_BACKLOG_LIMIT) {
      const dropped = this.backlog.shift();
      this.logger.error(
        `Security event lost (too many waiting for the database): ${dropped?.type}`,
      );
    }
    this.retrying ??= this.retry().finally(() => (this.retrying = undefined));
  }

  /** Tries the kept rows, oldest first, with a growing pause, until none is left or shutdown. */
  private async retry(): Promise<void> {
    for (let attempt = 0; this.backlog.length && !this.stopped; attempt++) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.min(100 * 2 ** attempt, RECORD_RETRY_MAX_MS));
        // Events waiting for the database must not keep a stopping process alive.
        timer.unref();
        this.wakeRetry = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      if (this.stopped) return;
      if (await this.insertOldest()) attempt = -1;
    }
  }

  /** Inserts the oldest kept rows; whether they landed (then they are kept no more). */
  private async insertOldest(): Promise<boolean> {
    const batch = this.backlog.slice(0, RECORD_BATCH);
    try {
      await this.insert(batch);
    } catch {
      return false;
    }
    // Rows kept during the insert went to the end of the backlog: only the batch leaves it.
    this.backlog = this.backlog.filter((row) => !batch.includes(row));
    return true;
  }
}

/** Column widths of `auth_security_events`: longer values are cut, never refused. */
const WIDTH = {
  type: 32,
  id: 64,
  username: 64,
  sessionId: 128,
  ip: 64,
  device: 128,
  reason: 128,
} as const;

function cut(value: string | null | undefined, width: number): string | null {
  return typeof value === 'string' && value.length ? value.slice(0, width) : null;
}

/** The row for an event; `streamId` marks one read from the session event stream. */
export function toRow(
  event: Omit<ActivityInput, 'type'> & { type: string },
  at: number,
  streamId: string | null,
): Omit<SecurityEvent, 'id'> {
  return {
    type: event.type.slice(0, WIDTH.type),
    at,
    actorId: cut(event.actor?.id, WIDTH.id),
    actorUsername: event.actor ? (cut(event.actor.username, WIDTH.username) ?? '') : null,
    userId: cut(event.userId, WIDTH.id),
    sessionId: cut(event.sessionId, WIDTH.sessionId),
    ip: cut(event.ip, WIDTH.ip),
    device: cut(event.device, WIDTH.device),
    reason: cut(event.reason, WIDTH.reason),
    streamId,
  };
}

function toRecord(row: SecurityEvent): ActivityRecord {
  return {
    id: String(row.id),
    type: row.type,
    at: Number(row.at),
    actor: row.actorId !== null ? { id: row.actorId, username: row.actorUsername ?? '' } : null,
    userId: row.userId,
    ...(row.sessionId !== null ? { sessionId: row.sessionId } : {}),
    ...(row.ip !== null ? { ip: row.ip } : {}),
    ...(row.device !== null ? { device: row.device } : {}),
    ...(row.reason !== null ? { reason: shownReason(row.type, row.reason) } : {}),
  };
}

/** A missed-events marker keeps its stream position for operators; users get the cause. */
function shownReason(type: string, reason: string): string {
  return type === MISSED_EVENTS_TYPE ? reason.split(' ', 1)[0] : reason;
}
