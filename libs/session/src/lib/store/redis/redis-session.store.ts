import { Injectable, Logger, OnModuleDestroy, OnModuleInit } from '@nestjs/common';
import { Cluster } from 'ioredis';
import type { Redis } from 'ioredis';

import type { SessionRedisConnection } from '../../config/session-options.interface';
import type { SessionStoreSettings } from '../../config/session.config';
import { SessionAttributesTooLargeError } from '../../errors/session-attributes-too-large.error';
import { SessionLimitReachedError } from '../../errors/session-limit-reached.error';
import { SessionStoreUnavailableError } from '../../errors/session-store-unavailable.error';
import type { Session } from '../../session.types';
import { SESSION_ATTRIBUTE_LIMITS } from '../attribute-names';
import type { StoreClock } from '../store-clock';
import {
  deriveUserTag,
  isDigest,
  isUserTag,
  isUserTagKey,
  newUserTagKey,
  parseSessionId,
  SessionRef,
  sessionRef,
} from '../../token/session.token';
import {
  CreatedSession,
  NewSessionRecord,
  ROTATION_FORWARD_MS,
  SessionEvictionListener,
  SessionExpiryListener,
  SessionHop,
  SessionRotation,
  SessionStore,
} from '../session-store.interface';
import {
  createRedisClient,
  duplicateWithoutResending,
  resendsAfterBrokenConnection,
} from './redis-client.factory';
import { assertSafeEvictionPolicy } from './eviction-policy';
import { RedisKeys } from './redis-keys';
import { ReplicaAcknowledgement, WrittenAt } from './replica-acknowledgement';
import { SilentConnectionWatch, watchSilentConnections } from './silent-connection.watch';
import { RedisWatermark } from './redis-watermark';
import {
  decodeSession,
  decodeValidated,
  encodeAttributeChanges,
  encodeNewSession,
  encodeRoles,
  SessionField,
  timestampFields,
} from './session-fields';
import { redisClock } from './redis-clock';
import { RedisRefusals } from './redis-refusals';
import {
  installSessionScripts,
  loadSessionScripts,
  SessionScriptName,
  watchScriptCache,
} from './session-scripts';
import { WriteCoalescer } from './write-coalescer';

type Reply = string | number | null | Reply[];

/** create.lua's first reply element when the cap policy `refuse` turned the session down. */
const REFUSED_AT_CAP = -2;
/** patch.lua's answer when the session's attributes would go over their limits. */
const PATCH_OVER_LIMITS = -1;
/**
 * How long a session evicted at a user's cap is kept for the undo of the login that evicted it,
 * and how long that undo is tried again when it could not be sent or its answer did not come
 * (see `abandon`): long enough to ride out a reconnection or a failover.
 */
const EVICTION_UNDO_GRACE_MS = 60_000;
/**
 * How many times `create` reads the global revocation's watermark after making a session before
 * it gives up (503) on a session each new watermark outdates: one revocation racing a login is
 * rare, three in a row are revocations in a loop.
 */
const OUTDATED_CREATE_ATTEMPTS = 3;
/** The first and the longest wait before an undo is sent again. */
const UNDO_RETRY_FIRST_MS = 100;
const UNDO_RETRY_MAX_MS = 5_000;
type ScriptCall = (...args: Array<string | number>) => Promise<Reply>;
type ScriptedClient = (Redis | Cluster) & Record<SessionScriptName, ScriptCall>;

/**
 * The default `SessionStore`: one hash per session, one sorted set per user, all of a user's
 * keys in one `{tag}` hash slot so every script runs on Redis Cluster. It closes a client it
 * created on shutdown and leaves alone one it was given.
 *
 * @example
 * SessionModule.forRoot({ redis: { url: 'redis://127.0.0.1:6379' } })
 */
@Injectable()
export class RedisSessionStore implements SessionStore, OnModuleInit, OnModuleDestroy {
  private readonly logger = new Logger(RedisSessionStore.name);
  /** Set on shutdown: undos still being tried (see `abandon`) stop. */
  private closing = false;
  /**
   * The next try of each undo waiting out its back-off (see `sendUndo`), made at once when a
   * connection becomes ready: one that broke may have taken an undo (or its answer) with it
   * after Redis ran what it undoes, and until the undo runs, the token its caller was told to
   * keep is refused (401), or the session a login evicted stays set aside. Sent as the new
   * connection becomes ready, it goes before any validation on it, not a back-off later.
   */
  private readonly waitingUndos = new Set<() => void>();
  /** Listens for `ready` on the clients, removed on shutdown (a given client outlives us). */
  private readonly retryUndosNow = (): void => [...this.waitingUndos].forEach((retry) => retry());
  /**
   * The rotations (by the session's id) and logins that may evict (by the user's tag) in
   * flight, each until its answer has been handled. A validation that finds no session while
   * one of them is in flight may have reached Redis after the rotation or the eviction — on a
   * Cluster a node's connection queues the commands made while it reconnects and sends them in
   * any order with another connection's — so it waits for them to land before it answers: a
   * write that succeeded ended the session (401), one that failed as unavailable leaves it
   * `undoing`.
   */
  private readonly flights = new Map<string, Set<Promise<void>>>();
  /**
   * What such a write that failed as unavailable leaves until an undo of it is answered (see
   * `sendUndo`), with how many of them do. A validation sent or answered meanwhile that finds
   * no session answers unavailable (503) rather than none (401): it may have run after the
   * write and before the undo, and the caller was told that nothing changed, so its holder must
   * not be logged out. A session ended for good meanwhile answers 503 until then too.
   */
  private readonly undoing = new Map<string, number>();
  private readonly client: ScriptedClient;
  private readonly ownsClient: boolean;
  private readonly keys: RedisKeys;
  private readonly expiryListeners = new Set<SessionExpiryListener>();
  private readonly evictionListeners = new Set<SessionEvictionListener>();
  /**
   * The user-tag keys this store has read (normally one), and the configured one
   * (`userTagKey`) from the start. Were Redis to lose the key while sessions derived from it
   * live on (a Cluster master restarted empty while the others kept their data), the key it
   * knows is written back rather than a new one made, and listing, revoking and role changes
   * also reach the tags of every key it knew.
   */
  private readonly knownTagKeys = new Set<string>();
  private readonly watermark: RedisWatermark;
  /** Runs the writes that remove access: the main client, or one of its own with `durability`. */
  private readonly writer: ScriptedClient;
  private readonly acknowledgement: ReplicaAcknowledgement | null;
  /** Merges the writes of validations made in one loop turn; null where it does not apply. */
  private readonly coalescer: WriteCoalescer | null;
  /** Redis's clock as this process sees it (`now()`). */
  private readonly clock: StoreClock;
  /** Ends the main client's connection (a Cluster's node's) when silent; null for a given client. */
  private readonly silence: SilentConnectionWatch | null;
  /** The same for the writer of `durability`, when it is a client of its own. */
  private readonly writerSilence: SilentConnectionWatch | null;
  /** Stops reloading the scripts into a Redis that lost them (see `watchScriptCache`). */
  private readonly stopScriptWatch: () => void;
  /** Tells of commands Redis refuses while it answers (NOPERM, MISCONF, READONLY...). */
  private readonly refusals = new RedisRefusals(this.logger);
  /** Set once a missing session has had the key prefix looked at (see `hintAtPrefix`). */
  private prefixLookedAt = false;
  /** validate.lua's arguments, stringified once rather than by the client on every request. */
  private readonly validateArgs: { idleTimeout: string; touchInterval: string };

  constructor(
    connection: SessionRedisConnection,
    private readonly settings: SessionStoreSettings,
  ) {
    const { client, owned } = createRedisClient(connection, settings);
    this.ownsClient = owned;
    if (resendsAfterBrokenConnection(client)) {
      this.logger.warn(
        'The Redis client sends a command again after its connection broke: a revocation or ' +
          'rotation whose answer was lost may then answer "not found". Give a Redis ' +
          '`maxRetriesPerRequest: 0`, a Cluster a `clusterNodeRetryStrategy` (see the README of the session library, Options)',
      );
    }
    if (owned) {
      this.reportOutages(client);
    }
    this.silence = owned ? this.watchSilence(client) : null;
    installSessionScripts(client);
    // Every (re)connection: Redis may have restarted or failed over with an empty script cache.
    // A client the app gave may be connected already: its current connection loads now.
    client.on('ready', () => void loadSessionScripts(client));
    if (client.status === 'ready') {
      void loadSessionScripts(client);
    }
    if (client instanceof Cluster) {
      loadOnNewMasters(client);
    }
    this.stopScriptWatch = watchScriptCache(client);
    this.client = client as ScriptedClient;
    this.clock = redisClock(client);
    this.coalescer =
      settings.coalesceWrites && !autoPipelined(client) ? new WriteCoalescer(client) : null;
    this.keys = new RedisKeys(settings.keyPrefix);
    this.validateArgs = {
      idleTimeout: String(settings.idleTimeoutMs),
      touchInterval: String(settings.touchIntervalMs),
    };
    if (settings.durability) {
      // A connection of our own, even beside a client the app gave: a WAIT blocks its
      // connection while replicas lag, and session checks must not queue behind it.
      const writer = duplicateWithoutResending(client);
      // The main client's outage warning covers this one too.
      writer.on('error', () => undefined);
      installSessionScripts(writer);
      this.writer = writer as ScriptedClient;
      this.writerSilence = this.watchSilence(writer);
      this.acknowledgement = new ReplicaAcknowledgement(writer, settings.durability);
    } else {
      this.writer = this.client;
      this.writerSilence = null;
      this.acknowledgement = null;
    }
    this.watermark = new RedisWatermark(this.writer, this.keys);
    for (const each of new Set([client, this.writer])) {
      each.on('ready', this.retryUndosNow);
    }
    if (settings.userTagKey) {
      this.knownTagKeys.add(settings.userTagKey);
    }
  }

  /**
   * Appends session events (`bodies`, each stored under `field`) to the stream `key`, bounded
   * by `maxLength`, in one script on the connection that runs revocations — so they follow the
   * writes they report — and even when Redis is out of memory (append-events.lua).
   */
  appendEvents(key: string, maxLength: number, field: string, bodies: string[]): Promise<unknown> {
    return this.writer.cloakroomAppendEvents(key, maxLength, field, ...bodies);
  }

  /** The ioredis client, for health checks and for apps that share the connection. */
  get redis(): Redis | Cluster {
    return this.client;
  }

  async onModuleInit(): Promise<void> {
    // Waiting a little lets the first requests find a connection; a Redis that is down at
    // start is not fatal here: requests answer 503 until it comes back.
    const ready = await Promise.all([
      this.ownsClient ? this.whenReady(this.client) : true,
      this.writer !== this.client ? this.whenReady(this.writer) : true,
    ]);
    if (ready.includes(false)) {
      this.logger.warn('Redis is not reachable yet; session checks answer 503 until it is');
    }
  }

  /** Redis's clock, epoch ms, as this process sees it: see `StoreClock`. */
  now(): number {
    return this.clock.now();
  }

  onModuleDestroy(): void {
    this.closing = true;
    this.waitingUndos.clear();
    this.undoing.clear();
    for (const each of new Set([this.client, this.writer])) {
      each.off('ready', this.retryUndosNow);
    }
    this.clock.stop();
    this.stopScriptWatch();
    if (this.ownsClient) {
      this.client.disconnect();
    }
    if (this.writer !== this.client) {
      this.writer.disconnect();
    }
  }

  /**
   * Refuses (null) a login whose generation was read under another of the user's tags: an
   * earlier release tagged the user in between (see `generation`).
   */
  async create(record: NewSessionRecord): Promise<CreatedSession | null> {
    const tag = await this.ensureUserTag(record.user.id);
    const expected = generationUnder(tag, record.expectedGeneration);
    if (expected === null) {
      return null;
    }
    const ref = sessionRef(tag, record.digest);
    // What earlier attempts evicted for good: should a later one fail, the caller hears of none
    // of them, so the listeners are told.
    const evicted: string[] = [];
    const lost = (): void =>
      this.reportEvictions(
        tag,
        record.user.id,
        evicted.map((id) => (parseSessionId(id) as SessionRef).digest),
      );
    let created: CreatedSession | null = null;
    for (let attempt = 1; ; attempt++) {
      if (!created) {
        try {
          created = await this.createOnce(ref, record, expected);
        } catch (error) {
          lost();
          throw error;
        }
        if (!created) {
          lost();
          return null;
        }
        evicted.push(...created.evicted);
      }
      const notBefore = await this.outdating(created.session.createdAt);
      if (notBefore === 0) {
        return { ...created, evicted };
      }
      // Stamped before a global revocation's watermark — in its own millisecond, or by a Cluster
      // master whose clock runs behind the one it was read from — and made after its sweep may
      // have passed the key: every service would refuse the session while it stayed listed and
      // counted at the cap (evicting a live one there). Its holder logs in after the watermark
      // was set: the session is moved past it, as the one a global revocation keeps is, or made
      // again if the sweep got to it first.
      const kept =
        attempt < OUTDATED_CREATE_ATTEMPTS
          ? await this.watermark.keep(ref, notBefore).catch(() => undefined)
          : undefined;
      if (kept === undefined) {
        // Given up (revocations kept coming), or not known: nobody gets the token, so the
        // session goes, by the undo of a create whose answer never came.
        this.abandon(ref, record.user.id, () => undefined);
        lost();
        throw new SessionStoreUnavailableError(
          new Error('A global revocation outdated this login as it was made'),
        );
      }
      created = kept ? { ...created, session: { ...created.session, createdAt: notBefore } } : null;
    }
  }

  /**
   * The watermark of a global revocation that ends a session created at `createdAt`, read after
   * the create has run (a revocation whose sweep may have passed the new key has set it by
   * then); 0 when none does. A read that fails leaves the login as made, as it stood before it
   * was checked, rather than failing a write that was answered.
   */
  private async outdating(createdAt: number): Promise<number> {
    try {
      const notBefore = await this.watermark.read();
      return createdAt < notBefore ? notBefore : 0;
    } catch (error) {
      this.refusals.report(error);
      return 0;
    }
  }

  /** One run of create.lua for `create`. */
  private async createOnce(
    ref: SessionRef,
    record: NewSessionRecord,
    expected: string | undefined,
  ): Promise<CreatedSession | null> {
    const { tag } = ref;
    const fields = encodeNewSession(record, this.settings.keepUserAgent);
    const { settings } = this;
    const idleTimeoutMs = record.persistent
      ? settings.rememberIdleTimeoutMs
      : settings.idleTimeoutMs;
    const absoluteTimeoutMs = record.persistent
      ? settings.rememberAbsoluteTimeoutMs
      : settings.absoluteTimeoutMs;
    // Only a login that may evict leaves another session missing while its undo is pending.
    const evicting =
      settings.maxSessionsPerUser > 0 && settings.capPolicy !== 'refuse' ? this.fly(tag) : GROUNDED;
    let reply: unknown;
    try {
      reply = await this.client.cloakroomCreate(
        this.keys.session(ref),
        this.keys.index(tag, record.user.id),
        this.keys.generation(tag, record.user.id),
        idleTimeoutMs,
        absoluteTimeoutMs,
        settings.maxSessionsPerUser,
        settings.capPolicy,
        settings.idleTimeoutMs,
        this.keys.sessionPrefix(tag),
        ref.digest,
        expected ?? '',
        this.keys.evictedPrefix(tag),
        EVICTION_UNDO_GRACE_MS,
        ...fields,
      );
    } catch (error) {
      this.silence?.failed(error);
      this.refusals.report(error);
      this.abandon(ref, record.user.id, evicting.failed());
      throw new SessionStoreUnavailableError(error);
    }
    evicting.landed();
    const [createdAt, expired, ...rest] = reply as [
      number,
      string[] | undefined,
      ...Array<string | string[]>,
    ];
    if (expired) {
      this.reportExpiries(tag, record.user.id, expired);
    }
    if (createdAt === REFUSED_AT_CAP) {
      throw new SessionLimitReachedError(this.decodeList(tag, rest));
    }
    if (createdAt < 0) {
      return null;
    }
    const evicted = rest as string[];
    if (evicted.length) {
      // Answered: no undo will come. What the create set aside for one goes now, not in a minute.
      const setAside = this.keys.evictedPrefix(tag);
      this.client
        .del(`${setAside}undo:${ref.digest}`, ...evicted.map((digest) => setAside + digest))
        .catch(() => undefined);
    }
    const session = this.decode(ref.id, [
      ...fields,
      ...timestampFields(createdAt, idleTimeoutMs, absoluteTimeoutMs),
    ]);
    if (!session) {
      // SessionService refuses such a user before anything is written.
      throw new TypeError('A session needs a user id, and roles that are strings');
    }
    return { tag, session, evicted: evicted.map((digest) => sessionRef(tag, digest).id) };
  }

  /**
   * Undoes a create whose answer never came (timed out, connection lost): a stalled Redis runs
   * the script once it resumes, and would keep a session whose token nobody was given, listed
   * among the user's devices and counted against their cap, and would have evicted another of
   * the user's sessions to make room for it. The undo, sent now on the same connection, runs
   * after it, whenever Redis gets to both: it deletes the new session and puts back what the
   * create evicted (create.lua keeps those for `EVICTION_UNDO_GRACE_MS`); if the create never
   * ran, it finds nothing. Sent until answered: see `sendUndo`.
   *
   * One "nothing" is the last word here, unlike a rotation's undo (`undoRotation`): the create
   * follows the user's tag read on the same connection, so at its timeout that connection has
   * been silent for at most `storeTimeout`, half what the silent-connection watch waits before
   * it drops one. The undo is therefore written behind the create on its connection, and no
   * later connection can carry it ahead. A create sent without that read just before would
   * need the rotation's retries.
   *
   * The undo itself is sent until one is answered in time (see `sendUndo`): what the first to
   * run evicted for good is announced by whichever is heard, since undo-create.lua keeps it
   * listed for the repeats to answer again (each session once).
   *
   * With `durability`, the undo also waits for replicas, as a rotation's does (see `sendUndo`):
   * a replica that holds the create without its undo, promoted by a failover, would keep the
   * session whose token nobody was given (listed, counted against the cap) and the sessions it
   * evicted evicted. Once answered on the main client, the undo is sent again by `writer`,
   * which then WAITs — never the main client, whose session checks would queue behind a WAIT.
   * That WAIT counts the first undo too: it ran before the repeat, and the repeat writes a mark.
   */
  private abandon(ref: SessionRef, userId: string, settle: () => void): void {
    const announced = new Set<string>();
    this.sendUndo(
      async (client, marked) => {
        const reply = await client.cloakroomUndoCreate(
          this.keys.session(ref),
          this.keys.index(ref.tag, userId),
          this.keys.generation(ref.tag, userId),
          ref.digest,
          userId,
          this.keys.sessionPrefix(ref.tag),
          this.keys.evictedPrefix(ref.tag),
          this.settings.maxSessionsPerUser,
          EVICTION_UNDO_GRACE_MS,
          marked ? '1' : '0',
        );
        // Put back from where a global revocation's sweep never looks (set aside): those it
        // ended go, or they would stay listed and counted at the cap while refused everywhere.
        if (Number((reply as Reply[])[0]) > 0) {
          await this.watermark.sweepIndexed(ref.tag, this.keys.index(ref.tag, userId));
        }
        return reply;
      },
      (reply) => {
        const dropped = (reply as [number, string[]])[1].filter((digest) => !announced.has(digest));
        dropped.forEach((digest) => announced.add(digest));
        this.reportEvictions(ref.tag, userId, dropped);
        return true;
      },
      { first: this.client, at: { key: this.keys.session(ref) }, settle },
    );
  }

  /**
   * Sends an undo in the background (the caller already answers that the store is unavailable)
   * until `settled` accepts an answer, or
   * `EVICTION_UNDO_GRACE_MS` are over. A connection that broke may have lost the undo with the
   * answer of what it undoes, after Redis ran that: until an undo is answered, it is sent
   * again, backing off (undoing twice is undoing once), and at once when a connection becomes
   * ready (see `waitingUndos`). It is sent by `first` (by default `writer`) until one is
   * accepted.
   *
   * With `durability`, an undo of a write to `at` is settled only once one was accepted and a
   * WAIT on `writer`, after an undo it sent, finds enough replicas holding it: the master runs
   * the undo even while replicas lag, and a replica it never reached, promoted by a failover,
   * still holds what the undo undid. Until then it is sent again by `writer`: to a master so
   * promoted it applies once more (answering as the first did). Every undo `writer` sends
   * then writes (`marked`: the scripts' ARGV mark), since WAIT only counts replicas that
   * reached its own connection's last write: a repeat that finds the undo done writes nothing
   * else, and the accepted undo may have gone out on another connection — `first`, or one of
   * `writer`'s that broke since (dropped while idle, with no call failing). After the mark, a
   * WAIT covers all the master ran before, whichever connection sent it.
   *
   * `settle` is called once an undo is answered (whatever it found: what it undoes has run
   * before it or, but for a connection dropped with it still in flight, never will), or once
   * the undo is given up or stopped by shutdown.
   */
  private sendUndo(
    undo: (client: ScriptedClient, marked: boolean) => Promise<Reply>,
    settled: (reply: Reply) => boolean,
    {
      first = this.writer,
      at,
      settle,
    }: { first?: ScriptedClient; at?: WrittenAt; settle: () => void },
  ): void {
    // Durations on the monotonic clock, which a step of the host clock leaves alone.
    const giveUpAt = performance.now() + EVICTION_UNDO_GRACE_MS;
    const acknowledgement = at ? this.acknowledgement : null;
    let accepted = false;
    const send = async (client: ScriptedClient, marked: boolean): Promise<Reply> => {
      const reply = await undo(client, marked);
      settle();
      return reply;
    };
    const once = async (): Promise<boolean> => {
      if (!acknowledgement || !at) {
        return settled(await send(first, false));
      }
      if (!accepted && first !== this.writer) {
        // Behind what it undoes, on that one's connection: see `abandon`.
        accepted = settled(await send(first, false));
        if (!accepted) return false;
      }
      accepted = settled(await send(this.writer, true)) || accepted;
      return accepted && (await acknowledgement.holds(at));
    };
    const later = (waitMs: number): void => {
      if (this.closing || performance.now() + waitMs > giveUpAt) {
        settle();
        return;
      }
      const retry = (): void => {
        if (!this.waitingUndos.delete(retry)) return;
        clearTimeout(timer);
        attempt(Math.min(waitMs * 2, UNDO_RETRY_MAX_MS));
      };
      const timer = setTimeout(retry, waitMs);
      timer.unref();
      this.waitingUndos.add(retry);
    };
    const attempt = (nextWaitMs: number): void => {
      once().then(
        (done) => {
          if (!done) later(nextWaitMs);
        },
        () => later(nextWaitMs),
      );
    };
    attempt(UNDO_RETRY_FIRST_MS);
  }

  /**
   * Marks `key` in flight until `landed`, or until `failed`, which marks it `undoing` first and
   * answers what ends that (once, however often called).
   */
  private fly(key: string): Flight {
    let land!: () => void;
    const flight = new Promise<void>((resolve) => (land = resolve));
    const flying = this.flights.get(key) ?? new Set<Promise<void>>();
    this.flights.set(key, flying.add(flight));
    const landed = (): void => {
      flying.delete(flight);
      if (flying.size === 0 && this.flights.get(key) === flying) this.flights.delete(key);
      land();
    };
    const failed = (): (() => void) => {
      this.undoing.set(key, (this.undoing.get(key) ?? 0) + 1);
      landed();
      let settled = false;
      return () => {
        if (settled) return;
        settled = true;
        const left = (this.undoing.get(key) ?? 0) - 1;
        if (left > 0) this.undoing.set(key, left);
        else this.undoing.delete(key);
      };
    };
    return { landed, failed };
  }

  private isUndoing(ref: SessionRef): boolean {
    return this.undoing.has(ref.id) || this.undoing.has(ref.tag);
  }

  private flightsOf(ref: SessionRef): Promise<void>[] {
    return [...(this.flights.get(ref.id) ?? []), ...(this.flights.get(ref.tag) ?? [])];
  }

  /**
   * Whether a validation of `ref` that found no session must answer unavailable: an undo was
   * pending when it was sent, or is once the writes in flight then or now have landed.
   */
  private async notKnownYet(ref: SessionRef, sent: Watched | null): Promise<boolean> {
    if (sent?.undoing) return true;
    const flying = [...(sent?.flights ?? []), ...this.flightsOf(ref)];
    if (flying.length !== 0) await Promise.all(flying);
    return this.isUndoing(ref);
  }

  /**
   * `<tag>:<counter>`: the generation under the tag the user's next session takes now. While
   * releases are mixed, an earlier one may give the user its random tag before `create`, which
   * then takes that tag: a change made before was counted under the other tag only, and the
   * counters of two tags may well be equal. `create` checks the counter only under the tag it
   * was read under.
   */
  async generation(userId: string): Promise<string> {
    const tag = await this.ensureUserTag(userId);
    const value = await this.call(() => this.client.get(this.keys.generation(tag, userId)));
    return `${tag}:${value ?? '0'}`;
  }

  async validate(ref: SessionRef): Promise<Session | null> {
    const watched = this.flights.size !== 0 || this.undoing.size !== 0;
    const sent = watched ? { undoing: this.isUndoing(ref), flights: this.flightsOf(ref) } : null;
    let reply: Reply;
    try {
      // The hot path: no closure per call, and the numbers are sent as the strings made once.
      this.coalescer?.hold();
      reply = await this.client.cloakroomValidate(
        this.keys.session(ref),
        this.validateArgs.idleTimeout,
        this.validateArgs.touchInterval,
      );
    } catch (error) {
      if (isWrongType(error)) {
        // The session's key (the script's only one) holds something else than a hash, written
        // by hand or by another program: a damaged session, refused as `decode` refuses a
        // damaged hash, not a store that is down.
        return null;
      }
      this.silence?.failed(error);
      this.refusals.report(error);
      throw new SessionStoreUnavailableError(error);
    }
    if (typeof reply === 'string') {
      return decodeValidated(ref.id, reply, this.settings.idleTimeoutMs);
    }
    if (!Array.isArray(reply)) {
      if (
        (watched || this.flights.size !== 0 || this.undoing.size !== 0) &&
        (await this.notKnownYet(ref, sent))
      ) {
        throw new SessionStoreUnavailableError(
          new Error('A failed rotation or login may be moving this session back: not known yet'),
        );
      }
      if (!this.prefixLookedAt) {
        this.hintAtPrefix();
      }
      return null;
    }
    if (reply.length === 1) {
      // Past its deadline (the script names the owner): reported once, by the pruning of the
      // user's index (`reportExpiries`), not here as well.
      return null;
    }
    // A hash whose values hold a NUL byte comes back whole (see validate.lua).
    return this.decode(ref.id, reply as string[]);
  }

  /**
   * A service given another key prefix or Redis database than the service that logs users in
   * refuses every session (401) with nothing else to say. The first time a session is missing,
   * this looks once for the key every login under the prefix reads or makes (`user-tag-key`):
   * none means no session was ever created under this prefix in this database. A hint, not an
   * error: a fresh install has none until its first login. A Redis user that may not read the
   * key (a validator: see `sessionAclRules`) learns nothing and says nothing; an unanswered
   * look is made again at the next missing session.
   */
  private hintAtPrefix(): void {
    this.prefixLookedAt = true;
    const key = this.keys.userTagKey();
    this.client.exists(key).then(
      (found) => {
        if (!found) {
          this.logger.warn(
            `A session was refused, and none was ever created under the key prefix ` +
              `"${this.settings.keyPrefix}" in this Redis database (${key} is missing): if ` +
              'every session is refused, check that this service has the same key prefix ' +
              '(SESSION_KEY_PREFIX) and Redis database (REDIS_URL) as the one that logs users in',
          );
        }
      },
      (error: Error) => {
        if (!error.message.startsWith('NOPERM')) {
          this.prefixLookedAt = false;
        }
      },
    );
  }

  /**
   * `listener` hears of every expired session once: when a login, a listing or a role change
   * prunes it from its user's index (Redis itself deletes a session at its deadline, without a
   * word). Returns a stop.
   */
  watchEvictions(listener: SessionEvictionListener): () => void {
    this.evictionListeners.add(listener);
    return () => this.evictionListeners.delete(listener);
  }

  watchExpiries(listener: SessionExpiryListener): () => void {
    this.expiryListeners.add(listener);
    return () => this.expiryListeners.delete(listener);
  }

  /**
   * What an undone login evicted and its undo could not put back: the create's answer, which
   * would have announced it, was lost.
   */
  private reportEvictions(tag: string, userId: string, digests: string[] = []): void {
    for (const digest of digests) {
      const evicted = { id: sessionRef(tag, digest).id, userId };
      for (const listener of this.evictionListeners) {
        listener(evicted);
      }
    }
  }

  private reportExpiries(tag: string, userId: string, digests: string[]): void {
    for (const digest of digests) {
      const id = sessionRef(tag, digest).id;
      for (const listener of this.expiryListeners) {
        listener({ id, userId });
      }
    }
  }

  async get(ref: SessionRef): Promise<Session | null> {
    const hash = await this.call(() =>
      // A key holding another type than a hash is a damaged session, as in `validate`.
      this.client.hgetall(this.keys.session(ref)).catch((error: unknown) => {
        if (isWrongType(error)) return {};
        throw error;
      }),
    );
    const session = Object.keys(hash).length
      ? this.decode(ref.id, Object.entries(hash).flat())
      : null;
    return session && session.absoluteExpiresAt > this.clock.now() ? session : null;
  }

  /**
   * Refused by Redis (an error, so a 503) when it arrives after this call has given up, as a
   * role change is (see `giveUpAt`): its caller may have written the attribute again since, and
   * the value it gave up on must not overwrite that one.
   */
  async patch(ref: SessionRef, attributes: Record<string, unknown>): Promise<boolean> {
    const { set, remove } = encodeAttributeChanges(attributes);
    const deadline = String(this.giveUpAt());
    const reply = await this.call(() =>
      this.client.cloakroomPatch(
        this.keys.session(ref),
        SESSION_ATTRIBUTE_LIMITS.count,
        SESSION_ATTRIBUTE_LIMITS.bytes,
        deadline,
        set.length / 2,
        ...set,
        ...remove,
      ),
    );
    if (reply === PATCH_OVER_LIMITS) {
      throw new SessionAttributesTooLargeError();
    }
    return reply === 1;
  }

  async revoke(ref: SessionRef, ownerId = ''): Promise<string | null> {
    const reply = await this.write({ key: this.keys.session(ref) }, () =>
      this.writer.cloakroomRevoke(
        this.keys.session(ref),
        this.keys.fence(ref.tag),
        this.keys.indexPrefix(ref.tag),
        ref.digest,
        ownerId,
        this.keys.forwardPrefix(ref.tag),
        this.keys.sessionPrefix(ref.tag),
        this.keys.evictedPrefix(ref.tag),
      ),
    );
    return typeof reply === 'string' ? sessionRef(ref.tag, reply).id : null;
  }

  /**
   * The keys this store knows first (see `knownTagKeys`), without a round trip: a revocation
   * whose answer is held on a connection must still be announced at once. Then the user's tags
   * as Redis names them now (an earlier release's random tag among them).
   */
  async ownsTag(userId: string, tag: string): Promise<boolean> {
    for (const key of this.knownTagKeys) {
      if (deriveUserTag(key, userId) === tag) return true;
    }
    return (await this.findUserTags(userId)).includes(tag);
  }

  /**
   * As revoke.lua follows a rotated session's forwards, read only and one hop at a time (not
   * atomic: a revocation whose answer was lost asks, and a forward outlives its sessions). On
   * `writer`, behind the revocation it is asked about.
   */
  async trace(ref: SessionRef): Promise<SessionHop[]> {
    const hops: SessionHop[] = [];
    const forwards = this.keys.forwardPrefix(ref.tag);
    let digest = ref.digest;
    const seen = new Set([digest]);
    // Four hops end any chain, as in revoke.lua.
    for (let hop = 0; hop < 4; hop++) {
      const at = sessionRef(ref.tag, digest);
      const [userId, forward] = await this.call(() =>
        Promise.all([
          this.writer
            .hget(this.keys.session(at), SessionField.userId)
            // A key of another type: revoke.lua deletes it as the session, and goes no further.
            .catch((error: unknown) => (isWrongType(error) ? false : Promise.reject(error))),
          this.writer.get(forwards + digest),
        ]),
      );
      hops.push({ id: at.id, userId: userId || null });
      if (userId !== null || !isDigest(forward) || seen.has(forward)) {
        return hops;
      }
      seen.add(forward);
      digest = forward;
    }
    return hops;
  }

  async list(userId: string): Promise<Session[]> {
    const lists = await Promise.all(
      (await this.findUserTags(userId)).map(async (tag) => {
        const [expired, ...live] = (await this.call(() =>
          this.client.cloakroomList(
            this.keys.index(tag, userId),
            this.keys.fence(tag),
            this.keys.sessionPrefix(tag),
            this.settings.idleTimeoutMs,
          ),
        )) as [string[], ...Array<string | string[]>];
        this.reportExpiries(tag, userId, expired);
        return this.decodeList(tag, live);
      }),
    );
    return lists.length === 1 ? lists[0] : lists.flat().sort((a, b) => a.createdAt - b.createdAt);
  }

  /** Sessions from `{ digest, { field, value, … } }` pairs, as list.lua and create.lua answer. */
  private decodeList(tag: string, reply: Array<string | string[]>): Session[] {
    const sessions: Session[] = [];
    for (let i = 0; i < reply.length; i += 2) {
      const session = this.decode(sessionRef(tag, reply[i] as string).id, reply[i + 1] as string[]);
      if (session) sessions.push(session);
    }
    return sessions;
  }

  async revokeAll(
    userId: string,
    except?: SessionRef,
    change = '',
  ): Promise<{ revoked: number; kept: string | null }> {
    let kept: string | null = null;
    const revoked = await this.eachUserTag(userId, async (tag) => {
      const [deleted, digest] = await this.revokeAllUnder(
        tag,
        userId,
        except?.tag === tag ? except.digest : '',
        change,
      );
      if (digest !== undefined) {
        kept = sessionRef(tag, digest).id;
      }
      return deleted;
    });
    return { revoked, kept };
  }

  /** revoke-all.lua under one of the user's tags: how many it deleted, the digest it kept. */
  private async revokeAllUnder(
    tag: string,
    userId: string,
    keep: string,
    change: string,
  ): Promise<[number, string?]> {
    return (await this.write({ key: this.keys.index(tag, userId) }, () =>
      this.writer.cloakroomRevokeAll(
        this.keys.index(tag, userId),
        this.keys.generation(tag, userId),
        this.keys.fence(tag),
        this.keys.sessionPrefix(tag),
        keep,
        this.keys.forwardPrefix(tag),
        this.keys.changes(tag, userId),
        change,
      ),
    )) as [number, string?];
  }

  /**
   * A rotation's revocation of the user's other sessions (`revokeOthersOf`) under the user's
   * other tags, which the rotation's script cannot reach from its slot: an earlier release's
   * random tag beside the derived one while releases are mixed, or a key Redis lost and another
   * process made anew (see `findUserTags`). Each tag's generation moves with its revocation, so a
   * login under that tag that read the user before the caller's change (a password change, stored
   * before this runs) is refused there too, as under the rotated session's tag. Sent before the
   * rotation: should it fail, the rotation is not sent and the caller's 503 leaves revocations
   * only. Nothing when the session to rotate is someone else's, or under a tag that is not the
   * user's: the rotation changes nothing of theirs then.
   */
  private async revokeUnderOtherTags(
    from: SessionRef,
    userId: string,
    change: string,
  ): Promise<void> {
    const [tags, owner] = await Promise.all([
      this.findUserTags(userId),
      this.call(() =>
        // A key of another type (written by another program) is no session, as rotate.lua reads it.
        this.client
          .hget(this.keys.session(from), SessionField.userId)
          .catch((error: unknown) => (isWrongType(error) ? null : Promise.reject(error))),
      ),
    ]);
    // As rotate.lua, which leaves alone a user whose sessions are not under the token's tag:
    // a token of another user's tag, gone or not, revokes nothing of this user's elsewhere.
    if (!tags.includes(from.tag) || (owner !== null && owner !== userId)) {
      return;
    }
    await Promise.all(
      tags
        .filter((tag) => tag !== from.tag)
        .map((tag) => this.revokeAllUnder(tag, userId, '', change)),
    );
  }

  /**
   * Refused by Redis (an error, so a 503) when it arrives after this call has given up: see
   * set-roles.lua and `giveUpAt`.
   */
  async setRoles(userId: string, roles: string[], change = ''): Promise<number> {
    const deadline = String(this.giveUpAt());
    return this.eachUserTag(userId, async (tag) => {
      const [updated, expired] = (await this.write({ key: this.keys.index(tag, userId) }, () =>
        this.writer.cloakroomSetRoles(
          this.keys.index(tag, userId),
          this.keys.generation(tag, userId),
          this.keys.fence(tag),
          this.keys.sessionPrefix(tag),
          encodeRoles(roles),
          deadline,
          this.keys.changes(tag, userId),
          change,
        ),
      )) as [number, string[]];
      this.reportExpiries(tag, userId, expired);
      return updated;
    });
  }

  /** Runs a per-tag script for each of the user's tags; the sum of their counts. */
  private async eachUserTag(
    userId: string,
    operation: (tag: string) => Promise<Reply>,
  ): Promise<number> {
    const counts = await Promise.all((await this.findUserTags(userId)).map(operation));
    return counts.reduce<number>((sum, count) => sum + Number(count), 0);
  }

  async rotate(
    from: SessionRef,
    to: SessionRef,
    options: SessionRotation = {},
  ): Promise<Session | null> {
    if (from.tag !== to.tag) {
      throw new Error('A session can only rotate within its user tag');
    }
    if (options.revokeOthersOf) {
      await this.revokeUnderOtherTags(from, options.revokeOthersOf, options.change ?? '');
    }
    // The old token dies (and, with revokeOthersOf, every other session of the user).
    const moving = this.fly(from.id);
    let reply: Reply;
    try {
      reply = await this.write({ key: this.keys.session(from) }, async () => {
        const moved = (await this.writer.cloakroomRotate(
          this.keys.session(from),
          this.keys.session(to),
          this.settings.idleTimeoutMs,
          this.keys.indexPrefix(from.tag),
          this.keys.generationPrefix(from.tag),
          this.keys.sessionPrefix(from.tag),
          from.digest,
          to.digest,
          options.revokeOthersOf ?? '',
          options.reauthenticated ? '1' : '0',
          this.keys.forwardPrefix(from.tag),
          ROTATION_FORWARD_MS,
          this.keys.changesPrefix(from.tag),
          options.change ?? '',
        )) as Reply;
        // The rotation keeps the creation time: a session a global revocation ends, moved to a
        // key its sweep had gone past, would stay in the store (listed, counted at the cap)
        // while every service refuses it. Read after the move, the watermark is the one the
        // sweep missed it under, if any.
        const rotated = moved ? this.decode(to.id, moved as string[]) : null;
        return rotated && (await this.watermark.sweepMoved(to, rotated.createdAt)) ? null : moved;
      });
    } catch (error) {
      if (error instanceof SessionStoreUnavailableError) {
        this.undoRotation(from, to, options.revokeOthersOf, moving.failed());
      } else {
        moving.landed();
      }
      throw error;
    }
    moving.landed();
    return reply ? this.decode(to.id, reply as string[]) : null;
  }

  /**
   * Undoes a rotation that failed as unavailable (timed out, connection lost, replicas short of
   * `durability`): the caller answers 503, which means nothing changed, so it hands out no new
   * token — yet Redis may have run the rotation, or run it once it resumes, and the session
   * would live on under a token nobody holds (an orphan listed among the user's devices and
   * counted against their cap) while the token its holder presents is dead. The undo
   * (undo-rotate.lua), sent on the connection the rotation used, runs after it and moves the
   * session back to its old token; it finds nothing if the rotation never ran. What the
   * rotation revoked besides (`revokeOthersOf`) stays revoked.
   *
   * An undo answered "nothing" is no proof: the rotation may have left on a connection that
   * was dropped since (a silent connection is, at once, and the undo then goes on the next
   * one), and still reach Redis from it (a partition heals, the TCP stack delivers what it had
   * sent) after the undo. It is sent again, backing off, until one moves the session back or the
   * grace is over (about 15 calls in all) — safe at any time, since it only moves a session from
   * the digest this rotation made up, and only while the old digest still forwards there. With
   * `durability`, also until enough replicas hold the undo (see `sendUndo`): a replica that holds
   * the rotation without it would, once promoted, bring back what the undo undid.
   */
  private undoRotation(
    from: SessionRef,
    to: SessionRef,
    ownerId: string | undefined,
    settle: () => void,
  ): void {
    this.sendUndo(
      async (client, marked) => {
        const reply = await client.cloakroomUndoRotate(
          this.keys.session(from),
          this.keys.session(to),
          this.keys.indexPrefix(from.tag),
          this.keys.forwardPrefix(from.tag),
          from.digest,
          to.digest,
          ROTATION_FORWARD_MS,
          ownerId ?? '',
          marked ? '1' : '0',
        );
        // Moved back to a key a global revocation's sweep may have passed meanwhile, as a
        // rotation moves it (see `rotate`). Checked after every repeat too: the one that moved
        // it back may have been answered too late to be heard.
        await this.watermark.sweepMoved(from, 0);
        return reply;
      },
      (reply) => reply === 1,
      { at: { key: this.keys.session(from) }, settle },
    );
  }

  revokeEverything(
    keep?: SessionRef,
    options: { onWatermark?: (notBefore: number) => void } = {},
  ): Promise<{ notBefore: number; revoked: number; kept: string | null }> {
    return this.write('every-master', () =>
      this.watermark.revokeAllBefore(keep, async (notBefore) => {
        // Held by the replicas before it is said to be set: one lost to a failover while the
        // sweep goes on would leave a revocation half done after its caller was told it stood.
        await this.acknowledgement?.confirm('every-master');
        options.onWatermark?.(notBefore);
      }),
    );
  }

  watchNotBefore(listener: (notBefore: number) => void): () => void {
    return this.watermark.watch(listener);
  }

  async verify(): Promise<void> {
    await this.ping();
    await assertSafeEvictionPolicy(this.client);
  }

  async ping(): Promise<void> {
    await this.call(() => this.client.ping());
  }

  /**
   * Every tag the user's sessions may live under: the random tag an earlier release gave them,
   * if any, and the derived one, if the key to derive it exists. Both, because while releases
   * are mixed (a rolling upgrade of the auth service) an older instance may write the random
   * tag for a user a newer one already gave sessions under the derived tag: listing, revoking
   * and role changes must reach both.
   */
  private async findUserTags(userId: string): Promise<string[]> {
    const [legacy, stored] = await this.call(() =>
      Promise.all([
        this.client.get(this.keys.legacyUserTag(userId)),
        this.client.get(this.keys.userTagKey()),
      ]),
    );
    if (stored !== null && !isUserTagKey(stored)) {
      // Answering with the legacy tag alone would list, revoke or demote none of the user's
      // other sessions and call it done: a revoke-all that silently misses is worse than a 503.
      throw this.badUserTagKey();
    }
    // Missing, with a key known: written back (see `knownTagKeys`).
    const key =
      stored !== null ? this.know(stored) : this.knownTagKeys.size ? await this.userTagKey() : null;
    const tags = new Set(isUserTag(legacy) ? [legacy] : []);
    for (const each of key === null ? this.knownTagKeys : [key, ...this.knownTagKeys]) {
      tags.add(deriveUserTag(each, userId));
    }
    return [...tags];
  }

  /**
   * The user's hash-slot tag: the random one an earlier release gave them, else an HMAC of their
   * id under the store's key, which the first store to need it creates. No key per user is
   * written. The key is read every time rather than kept: were it lost and made anew, every
   * instance must switch to the new one together.
   */
  private async ensureUserTag(userId: string): Promise<string> {
    const [legacy, key] = await Promise.all([
      this.call(() => this.client.get(this.keys.legacyUserTag(userId))),
      this.userTagKey(),
    ]);
    return isUserTag(legacy) ? legacy : deriveUserTag(key, userId);
  }

  private async userTagKey(): Promise<string> {
    const name = this.keys.userTagKey();
    const existing = await this.call(() => this.client.get(name));
    if (isUserTagKey(existing)) {
      return this.know(existing);
    }
    // The key this store knew, if Redis lost it; else a new one. SET NX GET: of several stores
    // writing it at once, the first one's key wins for all.
    const [known] = this.knownTagKeys;
    const candidate = known ?? newUserTagKey();
    const previous = await this.call(() => this.client.call('SET', name, candidate, 'NX', 'GET'));
    if (previous === null) {
      if (known) {
        this.logger.warn(`${name} was missing from Redis: wrote back the key this store knew`);
      }
      return this.know(candidate);
    }
    if (isUserTagKey(previous)) {
      return this.know(previous);
    }
    throw this.badUserTagKey();
  }

  /** Remembers a user-tag key read from (or written to) Redis; a few at most, ever. */
  private know(key: string): string {
    if (!this.knownTagKeys.has(key)) {
      if (this.knownTagKeys.size === 1 && this.knownTagKeys.has(this.settings.userTagKey ?? '')) {
        this.logger.error(
          `${this.keys.userTagKey()} in Redis is not the configured userTagKey: sessions are ` +
            "made under Redis's key, which the configured one cannot replace if Redis loses it; " +
            'configure the key Redis holds',
        );
      } else if (this.knownTagKeys.size) {
        this.logger.error(
          `${this.keys.userTagKey()} changed under this store: users' sessions now live under ` +
            'two keys (listing and revoking reach both until this process restarts)',
        );
      }
      if (this.knownTagKeys.size < 8) this.knownTagKeys.add(key);
    }
    return key;
  }

  /** What a garbage `user-tag-key` answers: 503, and nothing written. */
  private badUserTagKey(): SessionStoreUnavailableError {
    return new SessionStoreUnavailableError(
      new Error(`${this.keys.userTagKey()} does not hold a valid key`),
    );
  }

  /**
   * Without an `error` listener ioredis prints every failed reconnect, stack included; one
   * warning per outage is enough (requests already answer 503 meanwhile).
   */
  private reportOutages(client: Redis | Cluster): void {
    let down = false;
    client.on('error', (error: Error) => {
      if (!down) {
        down = true;
        this.logger.warn(`Redis connection lost: ${error.message}`);
      }
    });
    client.on('ready', () => {
      down = false;
    });
  }

  /**
   * A write that removes or reduces access, sent by `writer`; with `durability`, answered only
   * once enough replicas hold it (else SessionStoreUnavailableError). It waits even when the
   * write changed nothing: an earlier write of the same connection may still be unconfirmed.
   */
  private async write<T>(at: WrittenAt, operation: () => Promise<T>): Promise<T> {
    const result = await this.call(operation, this.writerSilence ?? this.silence);
    await this.acknowledgement?.confirm(at);
    return result;
  }

  /** Whether `client` is (or becomes within the connect timeout) ready. */
  private whenReady(client: Redis | Cluster): Promise<boolean> {
    if (client.status === 'ready') {
      return Promise.resolve(true);
    }
    return new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => resolve(false), Math.max(this.settings.storeTimeoutMs, 2000));
      client.once('ready', () => {
        clearTimeout(timer);
        resolve(true);
      });
    });
  }

  /**
   * When a call made now will have given up, by Redis's clock, less the clock's uncertainty:
   * Redis acting on it before then acts before the caller hears of a failure, so whatever the
   * caller does about that failure reaches Redis after it. 0 (no deadline) until Redis's clock
   * has been read (the local clock may be off by anything), and on a Cluster, whose masters
   * each have their host's clock while the store reads one of them.
   */
  private giveUpAt(): number {
    const uncertainty = this.clock.uncertainty;
    if (uncertainty === null || this.client instanceof Cluster) {
      return 0;
    }
    return Math.floor(this.clock.now() + this.settings.storeTimeoutMs - uncertainty);
  }

  /** `operation`'s result; its failure as `SessionStoreUnavailableError`, told to `watch`. */
  private async call<T>(
    operation: () => Promise<T>,
    watch: SilentConnectionWatch | null = this.silence,
  ): Promise<T> {
    try {
      return await operation();
    } catch (error) {
      watch?.failed(error);
      this.refusals.report(error);
      throw new SessionStoreUnavailableError(error);
    }
  }

  /** A watch that ends `client`'s connection once it has gone silent, with a warning. */
  private watchSilence(client: Redis | Cluster): SilentConnectionWatch {
    return watchSilentConnections(client, this.settings.storeTimeoutMs, (silentMs, node) =>
      this.logger.warn(
        `Redis${node ? ` node ${node}` : ''} answered nothing for ${Math.round(silentMs)} ms while a ` +
          'command waited: connecting again',
      ),
    );
  }

  /** Null for a hash damaged by hand or by another writer (see `decodeSession`). */
  private decode(id: string, flat: string[]): Session | null {
    return decodeSession(id, flat, this.settings.idleTimeoutMs);
  }
}

/** A write in flight (see `RedisSessionStore.fly`). */
interface Flight {
  landed(): void;
  /** Marks the write's key undoing; answers what ends that, once its undo is answered. */
  failed(): () => void;
}

/** What a validation saw in flight or undoing when it was sent. */
interface Watched {
  undoing: boolean;
  flights: Promise<void>[];
}

/** A write that leaves nothing missing should it fail: nothing to watch. */
const GROUNDED: Flight = { landed: () => undefined, failed: () => () => undefined };

/** Whether Redis refused a command for a key holding another type than the one it works on. */
function isWrongType(error: unknown): boolean {
  return error instanceof Error && error.message.startsWith('WRONGTYPE');
}

/** Whether ioredis batches the client's commands itself (then the store does not cork). */
function autoPipelined(client: Redis | Cluster): boolean {
  return client.options.enableAutoPipelining === true;
}

/**
 * On a cluster, a replica promoted to master takes over slots without any reconnection (no
 * 'ready'), and Redis does not replicate the script cache: it has none of the scripts. Each
 * time the client reads the cluster's slots again, masters it has not seen before get them, so
 * that services whose Redis user may only call scripts by SHA are served there at once.
 */
function loadOnNewMasters(client: Cluster): void {
  const nameOf = (node: Redis) => `${node.options.host}:${node.options.port}`;
  let known = new Set(client.nodes('master').map(nameOf));
  client.on('refresh', () => {
    const masters = client.nodes('master');
    for (const node of masters.filter((master) => !known.has(nameOf(master)))) {
      void loadSessionScripts(node);
    }
    known = new Set(masters.map(nameOf));
  });
}

/**
 * The counter `create` checks under `tag`, from what `generation` answered: null when that was
 * read under another tag (or is no generation at all); undefined, no check, when none was given.
 */
function generationUnder(tag: string, generation: string | undefined): string | null | undefined {
  if (generation === undefined) {
    return undefined;
  }
  const prefix = `${tag}:`;
  return generation.startsWith(prefix) ? generation.slice(prefix.length) : null;
}
