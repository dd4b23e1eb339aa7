import { Logger } from '@nestjs/common';
import { Cluster, Redis } from 'ioredis';

import { decodeSessionEvent, SessionEvent } from './session-event.interface';
import { redactedSessionEventsKey, sessionEventsKey } from './session-events.publisher';

/**
 * Why a reader may have missed events: `start` (no last id: it begins at the stream's end),
 * `trimmed` (events after its last id were trimmed away before it read them), `reconnected`
 * (its connection was lost: it catches up from its last id, but a consumer should not trust
 * what it kept meanwhile), `lost` (the stream holding its last id is gone: deleted, or Redis
 * came back without its data or as a replica that had not received it: the reader then reads
 * the new stream from its start), `unreadable` (an entry this library did not write).
 *
 * @example
 * // after any gap but `start` (nothing is cached yet), a revoked session may still be cached
 * if (item.kind === 'gap' && item.reason !== 'start') cache.clear();
 */
export type SessionEventsGapReason = 'start' | 'trimmed' | 'reconnected' | 'lost' | 'unreadable';

/**
 * What a reader hands out, in stream order: an event; a gap (some events may be missing
 * before what follows); or `down`, when its connection is lost (a `reconnected` gap follows
 * once it is back).
 *
 * @example
 * function handle(item: SessionEventsItem): void {
 *   if (item.kind === 'event') persist(item.event);
 *   else if (item.kind === 'gap') logger.warn(`events may be missing: ${item.reason}`);
 * }
 */
export type SessionEventsItem =
  | { kind: 'event'; event: SessionEvent }
  | { kind: 'gap'; reason: SessionEventsGapReason; lastId: string }
  | { kind: 'down' };

/**
 * Which stream a `SessionEventsReader` reads, and how.
 *
 * @example
 * // the one stream a validator's Redis user may read
 * new SessionEventsReader(redis, { keyPrefix: env.SESSION_KEY_PREFIX, redacted: true })
 */
export interface SessionEventsReaderOptions {
  /** The `keyPrefix` the publishing services use. Default `cr:`. */
  keyPrefix?: string;
  /** How long one XREAD waits for new events, milliseconds. Default 5000. */
  blockMs?: number;
  /**
   * How long past its block a read may go unanswered before the connection counts as dead
   * (`down`, then a fresh connection), milliseconds. Default 5000.
   */
  stallMs?: number;
  /** Most entries one XREAD returns. Default 100. */
  batchSize?: number;
  /**
   * Read the redacted stream (sessions named by `sessionEventRef`, no actor, address or
   * device): the one a validator's Redis user may read. Default false: the full stream.
   */
  redacted?: boolean;
}

/**
 * Reads the session lifecycle stream from a last id, blocking on XREAD so events arrive as
 * fast as pub/sub would; a service keeps the id of the last event it handled and passes it
 * back after a restart to catch up. It reports a gap instead of silently skipping: on start
 * without a last id, when that id was trimmed away, and after a lost connection. It reads on
 * its own connection (a duplicate of the client given, which it closes in `close()`), so run
 * one `read()` at a time per reader.
 *
 * @example
 * const reader = new SessionEventsReader(redis, { keyPrefix: 'cr:' });
 * for await (const item of reader.read(await loadLastId())) {
 *   if (item.kind === 'event') await persist(item.event); // then save item.event.id
 *   else if (item.kind === 'gap') logger.warn(`events may be missing: ${item.reason}`);
 * }
 */
export class SessionEventsReader {
  private readonly logger = new Logger(SessionEventsReader.name);
  private readonly client: Redis | Cluster;
  private readonly key: string;
  private readonly blockMs: number;
  private readonly batchSize: number;
  /** Moves on every lost connection: a read that saw it move may have missed events. */
  private epoch = 0;
  private closed = false;
  /** Ends the wait of a read for its connection (`untilReady`), for `close()`. */
  private stopWaiting: (() => void) | null = null;

  constructor(redis: Redis | Cluster, options: SessionEventsReaderOptions = {}) {
    const keyPrefix = options.keyPrefix ?? 'cr:';
    this.key = options.redacted ? redactedSessionEventsKey(keyPrefix) : sessionEventsKey(keyPrefix);
    this.blockMs = options.blockMs ?? 5000;
    this.batchSize = options.batchSize ?? 100;
    this.client = blockingDuplicate(redis, this.blockMs + (options.stallMs ?? 5000));
    this.client.on('close', () => this.epoch++);
    // The loop reports outages; without a listener ioredis would print each failed reconnect.
    this.client.on('error', () => undefined);
  }

  /** Stops reading: a pending `read()` ends. */
  close(): void {
    this.closed = true;
    this.client.disconnect();
    this.stopWaiting?.();
  }

  /**
   * The events after `lastId` (the end of the stream when absent: a `start` gap first), in
   * order, until `close()`.
   */
  async *read(lastId?: string | null): AsyncGenerator<SessionEventsItem> {
    if (lastId != null && !STREAM_ID.test(lastId)) {
      throw new TypeError(`Not a stream id: ${lastId}`);
    }
    let position = lastId ?? null;
    let gap: SessionEventsGapReason | null = position === null ? 'start' : null;
    let checkTrim = position !== null;
    let epoch = this.epoch;
    let down = false;
    /**
     * Where and how the stream stood when a gap was last reported, or when the entry at the
     * position was found gone with nothing after it: the same loss is not reported twice, a
     * later one is (see `lostSince`).
     */
    let reported: GapCheckpoint | null = null;
    /**
     * The position a gap is reported at when the reader left it: a stream that never held it
     * (`lost`) is read from its start, since its ids may run below it — a Redis back without its
     * data on a clock behind the old one's numbers its new events so, and reading on from the
     * old position would skip them until that clock caught up.
     */
    let gapAt: string | null = null;
    while (!this.closed) {
      try {
        await this.untilReady();
        if (this.closed) return;
        if (epoch !== this.epoch) {
          epoch = this.epoch;
          gap = 'reconnected';
          checkTrim = true;
        }
        let stream: StreamState | null = null;
        if (position === null || checkTrim) {
          stream = await this.describe(position);
          if (position === null) {
            position = stream.lastId;
          } else if (stream.missed) {
            // More telling than `reconnected`, which it may replace.
            gap = stream.missed;
            if (gap === 'lost') {
              gapAt = position;
              position = FROM_START;
            }
          } else if (!stream.present) {
            // Its entry went, and nothing after it: a loss is counted from here, as after a gap.
            reported = checkpointOf(position, stream);
          }
          checkTrim = false;
        }
        if (gap) {
          const reason = gap;
          gap = null;
          down = false;
          reported = stream && checkpointOf(position, stream);
          yield { kind: 'gap', reason, lastId: gapAt ?? position };
          gapAt = null;
        }
        const reply = (await this.client.xread(
          'COUNT',
          this.batchSize,
          'BLOCK',
          this.blockMs,
          'STREAMS',
          this.key,
          position,
        )) as Array<[string, Array<[string, string[]]>]> | null;
        const entries = reply?.[0]?.[1] ?? [];
        if (!entries.length) {
          // Nothing after the position: also what a stream replaced by one whose ids all run
          // below it looks like (a Redis back without its data on a clock behind): see to it.
          checkTrim = true;
          continue;
        }
        // XREAD skips what trimming removed without a word: the stream says how far it went.
        const now = await this.describe(position);
        const missed = reported?.position === position ? lostSince(reported, now) : now.missed;
        if (missed) {
          yield { kind: 'gap', reason: missed, lastId: position };
          if (missed === 'lost') {
            // Read this stream from its start: what came before this batch was never read.
            position = FROM_START;
            reported = checkpointOf(position, now);
            continue;
          }
        }
        reported = null;
        for (const [id, fields] of entries) {
          position = id;
          const event = decodeSessionEvent(id, fields);
          yield event
            ? { kind: 'event', event }
            : { kind: 'gap', reason: 'unreadable', lastId: position };
        }
      } catch (error) {
        if (this.closed) return;
        if (!down) {
          down = true;
          this.logger.warn(`Session events unavailable: ${(error as Error)?.message ?? error}`);
          yield { kind: 'down' };
        }
        gap = 'reconnected';
        checkTrim = true;
        if (this.client.status === 'ready') {
          // A timeout, or an answer that makes no sense: start again on a fresh connection.
          this.client.disconnect(true);
        }
        await delay(100);
      }
    }
  }

  /**
   * The stream's last id ever given, and whether entries after `position` (an entry this
   * reader read, or was handed back) may be missing. Trimming removes the oldest entries first,
   * so nothing after `position` is missing while `position` itself is still there (XDEL aside,
   * which shows in `max-deleted-entry-id`); once it is gone, a gap is assumed (possibly when
   * only `position` went) unless it was the stream's last id: `trimmed`, or `lost` when this
   * stream cannot be the one that held it (no stream, nothing ever removed from it, or its ids
   * never reached `position`).
   */
  private async describe(position: string | null): Promise<StreamState> {
    const held = position !== null && position !== '0-0';
    const pipeline = this.client.pipeline().xinfo('STREAM', this.key);
    if (held) {
      // The first entry after the id just before `position`: `position` itself if it is still
      // there. XREAD, which a validating service's Redis ACL allows, rather than XRANGE.
      pipeline.xread('COUNT', 1, 'STREAMS', this.key, idBefore(position));
    }
    const [[infoError, reply], found] = (await pipeline.exec()) as Array<[Error | null, unknown]>;
    if (infoError) {
      if (/no such key/i.test(infoError.message)) {
        return { lastId: '0-0', missed: held ? 'lost' : null, added: 0, length: 0, present: false };
      }
      throw infoError;
    }
    const info = new Map<string, unknown>();
    for (let i = 0; i + 1 < (reply as unknown[]).length; i += 2) {
      info.set(String((reply as unknown[])[i]), (reply as unknown[])[i + 1]);
    }
    const lastId = String(info.get('last-generated-id') ?? '0-0');
    const added = Number(info.get('entries-added') ?? 0);
    const length = Number(info.get('length') ?? 0);
    if (!held) {
      return { lastId, missed: null, added, length, present: false };
    }
    if (found?.[0]) {
      throw found[0];
    }
    const maxDeleted = String(info.get('max-deleted-entry-id') ?? '0-0');
    const next = (found?.[1] as Array<[string, Array<[string, string[]]>]> | null)?.[0]?.[1]?.[0];
    if (next?.[0] === position) {
      const missed = compareIds(maxDeleted, position) > 0 ? 'trimmed' : null;
      return { lastId, missed, added, length, present: true };
    }
    const neverRemoved = added === length;
    if (lastId === position) {
      // Its entry was the last ever added: whatever removed it took nothing after it.
      return { lastId, missed: null, added, length, present: false, trimmedPast: !neverRemoved };
    }
    return {
      lastId,
      missed: neverRemoved || compareIds(lastId, position) < 0 ? 'lost' : 'trimmed',
      added,
      length,
      present: false,
      trimmedPast: !neverRemoved,
    };
  }

  private async untilReady(): Promise<void> {
    while (!this.closed && this.client.status !== 'ready') {
      // Ended (its retries given up: tried again every second), or never connected (the
      // duplicate of a client given with `lazyConnect` connects on its first command only).
      if (this.client.status === 'end' || this.client.status === 'wait') {
        this.client.connect().catch(() => undefined);
      }
      await new Promise<void>((resolve) => {
        const done = () => {
          clearTimeout(timer);
          this.client.off('ready', done);
          this.stopWaiting = null;
          resolve();
        };
        const timer = setTimeout(done, 1000);
        this.client.once('ready', done);
        this.stopWaiting = done;
      });
    }
  }
}

/**
 * A connection of its own for blocking reads: commands fail at once while it is down (the
 * reader must notice), and a read that outlives its BLOCK by far is a dead connection. It is
 * destroyed at once when ended (`disconnectTimeout` 0): no answer still to come is worth waiting
 * for, as the reader reads again from its position; and ioredis's timer for a polite end waits
 * for a close that a connection lost already, or one to a Redis that hangs, does not send, which
 * would keep a closed reader's process alive and leave a dead connection counted ready.
 */
function blockingDuplicate(redis: Redis | Cluster, commandTimeout: number): Redis | Cluster {
  const blocking = {
    commandTimeout,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    autoResendUnfulfilledCommands: false,
    enableAutoPipelining: false,
    disconnectTimeout: 0,
  };
  if (redis instanceof Cluster) {
    const redisOptions = redis.options.redisOptions ?? {};
    return redis.duplicate(undefined, {
      enableOfflineQueue: false,
      redisOptions: { ...redisOptions, ...blocking, connectionName: nameOf(redisOptions) },
    });
  }
  return redis.duplicate({ ...blocking, connectionName: nameOf(redis.options) });
}

function nameOf(options: { connectionName?: string }): string {
  return `${options.connectionName ?? 'cloakroom'}-events`;
}

const STREAM_ID = /^\d{1,20}-\d{1,20}$/;

/** The position before a stream's first entry. */
const FROM_START = '0-0';

/** Orders stream ids `<ms>-<seq>`. */
/** The greatest stream id below `id` (which is above `0-0`). */
function idBefore(id: string): string {
  const [ms, seq] = id.split('-').map(BigInt);
  return seq > 0n ? `${ms}-${seq - 1n}` : `${ms - 1n}-18446744073709551615`;
}

export function compareIds(a: string, b: string): number {
  const [aMs, aSeq] = parseId(a);
  const [bMs, bSeq] = parseId(b);
  if (aMs !== bMs) return aMs < bMs ? -1 : 1;
  return aSeq === bSeq ? 0 : aSeq < bSeq ? -1 : 1;
}

function parseId(id: string): [bigint, bigint] {
  const [ms, seq = '0'] = id.split('-');
  return [BigInt(ms || '0'), BigInt(seq || '0')];
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** What `describe` finds: the stream's counters, and whether the position's entry is there. */
interface StreamState {
  /** The stream's last id ever given. */
  lastId: string;
  /** Whether entries after the position may be missing, and why. */
  missed: 'trimmed' | 'lost' | null;
  /** Entries ever added (`entries-added`), and those there now (`length`). */
  added: number;
  length: number;
  /** Whether the position's own entry is still in the stream. */
  present: boolean;
  /** The position's entry is gone and the stream had entries removed: the oldest first. */
  trimmedPast?: boolean;
}

/** The stream when a gap was reported at `position`, to tell a later loss from that one. */
interface GapCheckpoint {
  position: string;
  added: number;
  /** Entries ever removed from the stream then (trimmed or deleted). */
  removed: number;
  /** Entries after `position` in the stream then; null when that cannot be known. */
  after: number | null;
}

function checkpointOf(position: string, stream: StreamState): GapCheckpoint {
  let after: number | null = null;
  if (compareIds(stream.lastId, position) <= 0) {
    // Nothing was ever added after it (a start gap begins at the stream's last id).
    after = 0;
  } else if (stream.trimmedPast) {
    // Trimming removes the oldest entries first: with the position gone, all left are after it.
    after = stream.length;
  }
  return { position, added: stream.added, removed: stream.added - stream.length, after };
}

/**
 * Whether entries were lost since a gap was reported at the same position. The position's own
 * entry still there means nothing after it went (as `describe` says). Otherwise the entries
 * after it then, plus those added since, must all still be there; when what was after it then
 * is unknown, any entry removed since counts as a loss.
 */
function lostSince(checkpoint: GapCheckpoint, now: StreamState): 'trimmed' | 'lost' | null {
  if (now.present) {
    return now.missed;
  }
  const lost =
    checkpoint.after === null
      ? now.added - now.length > checkpoint.removed
      : now.length < checkpoint.after + (now.added - checkpoint.added);
  return lost ? (now.missed ?? 'trimmed') : null;
}
