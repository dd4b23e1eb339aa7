import { Injectable, Logger, OnApplicationBootstrap, OnModuleDestroy } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { Brackets, DataSource } from 'typeorm';

import {
  SessionEvent,
  SessionEventActor,
  SessionEventsItem,
  SessionEventsReader,
} from '@cloakroom/session';

import { AuthEnv } from '../config/auth.env';
import { AuthRedis } from '../redis/auth-redis';
import { ActivityRetention } from './activity-retention.service';
import { ActivityCheckpoint } from './entities/activity-checkpoint.entity';
import { SecurityEvent } from './entities/security-event.entity';
import { ActivityType, MISSED_EVENTS_TYPE, toRow } from './security-activity.service';

/** The checkpoint row of this consumer. */
export const SESSION_EVENTS_CHECKPOINT = 'session-events';

/** Most stream items stored per round of writes (the reader fetches 100 at a time). */
const BATCH = 100;

/** Rows per INSERT: well under SQLite's limit on bound parameters. */
const ROWS_PER_INSERT = 50;

const NOT_READY = Symbol('not ready');

/** Resolves after pending I/O callbacks, i.e. after every microtask queued before it. */
function nextTurn(): Promise<typeof NOT_READY> {
  return new Promise((resolve) => setImmediate(() => resolve(NOT_READY)));
}

/** The activity type a lifecycle event is stored as; null for those the log leaves out. */
export function activityTypeOf(event: SessionEvent): ActivityType | null {
  switch (event.type as string) {
    case 'session.created':
      return 'login';
    case 'session.revoked':
      if (event.reason === 'logout') return 'logout';
      // Libraries before `session.evicted` reported cap evictions as revocations.
      return event.reason === 'cap' ? 'session.evicted' : 'session.revoked';
    case 'roles.changed':
      // Without roles: a change whose write failed and that the service put back; its undo
      // is announced (and logged) on its own.
      return event.roles ? 'roles.changed' : null;
    case 'session.expired':
    case 'session.evicted':
    case 'sessions.revoked-all':
      return event.type as ActivityType;
    default:
      // `session.rotated` (the session lives on under a new id) and types added later.
      return null;
  }
}

/**
 * The reasons of the administrators' actions on a user's sessions: the only events whose actor
 * may be someone else than the user and still be named to them.
 */
const ADMIN_REASONS: ReadonlySet<string> = new Set(['admin', 'disable', 'revoke-all']);

/**
 * Who the log names as having done it. Someone else than the user is named only for an
 * administrator's action (a role change, or a revocation for an administrator's reason). Any
 * other event with a foreign actor ended a session the actor never owned: a login revokes every
 * token its client held, and a browser may hold a token planted by the session's owner, who
 * must not learn from their own log which account logged in over it.
 */
export function activityActorOf(event: SessionEvent): SessionEventActor | null {
  const { actor, userId } = event;
  if (!actor || userId === null || actor.id === userId) {
    return actor;
  }
  return event.type === 'roles.changed' || ADMIN_REASONS.has(event.reason ?? '') ? actor : null;
}

/**
 * Persists the session library's lifecycle events into the activity log. Every auth instance
 * runs one; each reads the whole stream from the shared checkpoint. An event's stream id is a
 * unique key (inserted with ON CONFLICT DO NOTHING), so an event replayed after a restart, or
 * stored by two instances at once, is one row. The checkpoint moves forward only (SQL compares
 * positions), right after the rows before it are stored: a crash in between replays, never
 * skips. The two writes are separate statements on purpose: no transaction holds SQLite's
 * write lock across an await.
 */
@Injectable()
export class SessionEventsConsumer implements OnApplicationBootstrap, OnModuleDestroy {
  private readonly logger = new Logger('SecurityActivity');
  private reader?: SessionEventsReader;
  private running?: Promise<void>;
  private closed = false;
  private failing = false;
  private wake?: () => void;

  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly redis: AuthRedis,
    private readonly env: AuthEnv,
    private readonly retention: ActivityRetention,
  ) {}

  onApplicationBootstrap(): void {
    this.reader = new SessionEventsReader(this.redis.client, {
      keyPrefix: this.env.SESSION_KEY_PREFIX,
    });
    this.running = this.consume(this.reader).catch((error: unknown) => {
      this.logger.error(`Session events consumer stopped: ${(error as Error)?.message ?? error}`);
    });
  }

  async onModuleDestroy(): Promise<void> {
    this.closed = true;
    this.wake?.();
    this.reader?.close();
    await this.running;
  }

  /**
   * Reads the stream and stores what it hands out, a batch at a time: the events the reader
   * already holds (up to {@link BATCH}) become one INSERT and one checkpoint update, so a
   * backlog costs SQLite a few writes per hundred events instead of two each.
   */
  private async consume(reader: SessionEventsReader): Promise<void> {
    const position = await this.untilDone(() => this.loadCheckpoint());
    if (position === null) return;
    const items = reader.read(position);
    let pending: Promise<IteratorResult<SessionEventsItem>> | null = null;
    while (!this.closed) {
      const first: IteratorResult<SessionEventsItem> = await (pending ?? items.next());
      pending = null;
      if (first.done || this.closed) return;
      const batch = [first.value];
      while (batch.length < BATCH) {
        pending = items.next();
        // An entry the reader holds arrives within microtasks; one it must wait for does not.
        const next = await Promise.race([pending, nextTurn()]);
        if (next === NOT_READY) break;
        pending = null;
        if (next.done) break;
        batch.push(next.value);
      }
      await this.untilDone(() => this.handle(batch));
    }
  }

  private async handle(batch: SessionEventsItem[]): Promise<void> {
    const cutoff = this.retention.cutoff();
    let rows: Omit<SecurityEvent, 'id'>[] = [];
    let lastId: string | null = null;
    const flush = async () => {
      for (let i = 0; i < rows.length; i += ROWS_PER_INSERT) {
        await this.insert(rows.slice(i, i + ROWS_PER_INSERT));
      }
      if (lastId) await this.advance(lastId);
      rows = [];
      lastId = null;
    };
    for (const item of batch) {
      if (item.kind === 'event') {
        const { event } = item;
        const type = activityTypeOf(event);
        if (type && event.at >= cutoff) {
          rows.push(toRow({ ...event, type, actor: activityActorOf(event) }, event.at, event.id));
        }
        lastId = event.id;
      } else if (item.kind === 'gap') {
        await flush();
        await this.gap(item.reason, item.lastId);
      }
    }
    await flush();
  }

  /**
   * A gap in the stream becomes a marker row, one per position whichever instance saw it.
   * From the very start of the stream nothing of ours can be missing; after a reconnection
   * only trimming can have removed events, which the last id still being there rules out.
   */
  private async gap(reason: string, lastId: string): Promise<void> {
    if (lastId === '0-0') {
      this.logger.log('Session events before the retained stream are not in the activity log');
      return;
    }
    if (reason === 'reconnected' && (await this.stillInStream(lastId))) {
      return;
    }
    const cause = reason === 'reconnected' ? 'trimmed' : reason;
    this.logger.warn(`Security activity may be missing session events after ${lastId} (${cause})`);
    await this.insert([
      toRow(
        { type: MISSED_EVENTS_TYPE, userId: null, actor: null, reason: `${cause} after ${lastId}` },
        Date.now(),
        `gap:${lastId}`,
      ),
    ]);
    if (reason === 'unreadable') {
      // The entry that could not be read: do not read it again after a restart.
      await this.advance(lastId);
    }
  }

  private async stillInStream(id: string): Promise<boolean> {
    const key = `${this.env.SESSION_KEY_PREFIX}events`;
    const entries = (await this.redis.client.xrange(key, id, id)) as unknown[];
    return entries.length > 0;
  }

  private async insert(rows: Omit<SecurityEvent, 'id'>[]): Promise<void> {
    if (!rows.length) return;
    await this.dataSource
      .createQueryBuilder()
      .insert()
      .into(SecurityEvent)
      .values(rows)
      .orIgnore()
      .updateEntity(false)
      .execute();
  }

  /** Moves the shared checkpoint to `id` unless another instance already went further. */
  private async advance(id: string): Promise<void> {
    const [ms, seq] = id.split('-').map(Number);
    await this.dataSource
      .createQueryBuilder()
      .update(ActivityCheckpoint)
      .set({ lastMs: ms, lastSeq: seq })
      .where('name = :name', { name: SESSION_EVENTS_CHECKPOINT })
      .andWhere(
        new Brackets((behind) =>
          behind
            .where('last_ms < :ms', { ms })
            .orWhere(
              new Brackets((same) =>
                same.where('last_ms = :ms', { ms }).andWhere('last_seq < :seq', { seq }),
              ),
            ),
        ),
      )
      .execute();
  }

  /** The stream id to read after: `0-0` (the whole retained stream) the first time. */
  private async loadCheckpoint(): Promise<string> {
    await this.dataSource
      .createQueryBuilder()
      .insert()
      .into(ActivityCheckpoint)
      .values({ name: SESSION_EVENTS_CHECKPOINT, lastMs: 0, lastSeq: 0 })
      .orIgnore()
      .updateEntity(false)
      .execute();
    const checkpoint = await this.dataSource
      .getRepository(ActivityCheckpoint)
      .findOneByOrFail({ name: SESSION_EVENTS_CHECKPOINT });
    return `${checkpoint.lastMs}-${checkpoint.lastSeq}`;
  }

  /**
   * Runs a database step until it succeeds or the app stops (null then): while the database
   * is down the stream waits in Redis, so nothing is dropped. One warning per outage.
   */
  private async untilDone<T>(step: () => Promise<T>): Promise<T | null> {
    for (let attempt = 0; !this.closed; attempt++) {
      try {
        const result = await step();
        this.failing = false;
        return result;
      } catch (error) {
        if (this.closed) return null;
        if (!this.failing) {
          this.failing = true;
          this.logger.warn(
            `Could not store session events, retrying: ${(error as Error)?.message ?? error}`,
          );
        }
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, Math.min(100 * 2 ** attempt, 5000));
          this.wake = () => {
            clearTimeout(timer);
            resolve();
          };
        });
      }
    }
    return null;
  }
}
