import {
  Inject,
  Injectable,
  Logger,
  OnModuleDestroy,
  OnModuleInit,
  Optional,
} from '@nestjs/common';

import type { SessionConfig } from '../config/session.config';
import type { SessionEvent } from '../events/session-event.interface';
import { SessionEventsItem, SessionEventsReader } from '../events/session-events.reader';
import type { SessionMetrics } from '../metrics/session-metrics.interface';
import {
  SESSION_CACHE,
  SESSION_CONFIG,
  SESSION_METRICS,
  SessionEvents,
} from '../session.constants';
import { RedisSessionStore } from '../store/redis/redis-session.store';
import { SessionStore } from '../store/session-store.interface';
import type { SessionCache } from './session.cache';

/** How long the cache's reader waits on the stream per read, milliseconds. */
export const CACHE_READ_BLOCK_MS = 1000;

/**
 * Keeps the local cache (`localCache` option) in step with every service: the module starts
 * it by itself, and it reads the redacted session lifecycle stream that every `SessionService`
 * appends to (the one a validator may read), forgetting the sessions each event names (those
 * revoked, rotated, evicted, expired, given new roles or patched). It flushes the cache
 * whenever the stream reports a gap (start, trimmed events, a lost connection, an entry it
 * cannot read — which is how a release before `session.patched` reads that event), and keeps
 * the cache paused while its connection is down or Redis does not answer its reads (within
 * about a second and the store timeout). With a backend that has no Redis (`remote`, an
 * in-memory store), there is no stream to read: a cached session may then outlive its
 * revocation, or a patch, by the ttl.
 */
@Injectable()
export class SessionCacheInvalidator implements OnModuleInit, OnModuleDestroy {
  private readonly logger = new Logger(SessionCacheInvalidator.name);
  private reader?: SessionEventsReader;
  private running?: Promise<void>;
  private stopEvictions?: () => void;

  constructor(
    @Optional() @Inject(SESSION_CACHE) private readonly cache: SessionCache | null,
    @Inject(SessionStore) private readonly store: SessionStore,
    @Inject(SESSION_CONFIG) private readonly config: SessionConfig,
    @Optional() @Inject(SESSION_METRICS) private readonly metrics: SessionMetrics | null = null,
  ) {}

  onModuleInit(): void {
    const cache = this.cache;
    if (!cache) {
      return;
    }
    // What the undo of a login whose answer was lost evicted for good: no `create` answered it
    // here, and its event (if events are on, and the append gets through) comes back the long way.
    this.stopEvictions = this.store.watchEvictions?.(({ id }) => cache.evict([id]));
    if (!(this.store instanceof RedisSessionStore)) {
      this.logger.warn(
        `The local cache has no event stream to follow with this backend: a revoked session ` +
          `may be served for up to ${cache.ttl / 1000} s`,
      );
      return;
    }
    cache.pause();
    // A short block, and no more than the store timeout past it: a Redis that stops answering
    // pauses the cache within about CACHE_READ_BLOCK_MS + storeTimeout, as store calls 503.
    this.reader = new SessionEventsReader(this.store.redis, {
      keyPrefix: this.config.keyPrefix,
      redacted: true,
      blockMs: CACHE_READ_BLOCK_MS,
      stallMs: this.config.storeTimeoutMs,
    });
    this.running = this.follow(this.reader, cache).catch((error: unknown) => {
      cache.pause();
      this.logger.error(`The local cache stopped following session events: ${error}`);
    });
  }

  async onModuleDestroy(): Promise<void> {
    this.stopEvictions?.();
    this.reader?.close();
    await this.running;
  }

  private async follow(reader: SessionEventsReader, cache: SessionCache): Promise<void> {
    for await (const item of reader.read()) {
      apply(cache, item);
      // Publication (Redis clock, at the event) to forgotten here.
      if (item.kind === 'event' && item.event.type !== SessionEvents.created) {
        this.metrics?.cacheInvalidation(Math.max(0, Date.now() - item.event.at));
      }
    }
  }
}

/** What one stream item means for the cache. */
export function apply(cache: SessionCache, item: SessionEventsItem): void {
  if (item.kind === 'down') {
    cache.pause();
  } else if (item.kind === 'gap') {
    cache.resume();
  } else {
    applyEvent(cache, item.event);
  }
}

function applyEvent(cache: SessionCache, event: SessionEvent): void {
  switch (event.type) {
    // Its write may land after it (a revocation that timed out, on Redis Cluster): not cached
    // again for a while, the session is read from the store until then.
    case SessionEvents.revoked:
      if (event.sessionRef) cache.evictRevoked([event.sessionRef]);
      return;
    case SessionEvents.evicted:
    case SessionEvents.expired:
    case SessionEvents.patched:
      // After a patch, the next validation reads the new attributes from the store.
      if (event.sessionRef) cache.evictRefs([event.sessionRef]);
      return;
    case SessionEvents.rotated:
      cache.evictRefs([event.previousSessionRef, event.sessionRef].filter(isString));
      return;
    // Its write may land after it too (answered 503, on Redis Cluster): with the change's id,
    // the user's sessions are cached again only once read with it (`evictUserChange`).
    case SessionEvents.revokedAll:
      if (event.userId === null) cache.clear();
      else if (event.change)
        cache.evictUserChange(event.userId, event.change, event.keptSessionRef);
      else cache.evictUser(event.userId, event.keptSessionRef);
      return;
    // The new roles are in Redis already (or on their way, as above): forgetting the user's
    // sessions makes the next request read them there instead of trusting the event's copy.
    case SessionEvents.rolesChanged:
      if (event.userId === null) return;
      if (event.change) cache.evictUserChange(event.userId, event.change);
      else cache.evictUser(event.userId);
      return;
    case SessionEvents.created:
      return;
  }
}

function isString(value: string | undefined): value is string {
  return typeof value === 'string';
}
