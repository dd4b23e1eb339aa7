import { Logger } from '@nestjs/common';
import { Cluster, Redis, ReplyError } from 'ioredis';

import { SessionRef, sessionRef } from '../../token/session.token';
import { millisecondsOf } from './redis-clock';
import type { RedisKeys } from './redis-keys';

type Call = (...args: Array<string | number>) => Promise<unknown>;
type ScriptedClient = (Redis | Cluster) & {
  cloakroomSweep: Call;
  cloakroomKeep: Call;
  cloakroomRaiseWatermark: Call;
};

/** Keys a SCAN step asks for on each node. */
const SCAN_COUNT = 1000;

/**
 * How often the subscription to global revocations is pinged, ms: a ping still unanswered at
 * the next one ends its connection (see `watch`).
 */
const SUBSCRIPTION_PING_MS = 1000;

/**
 * The longest wait, ms, before subscribing to global revocations once more after a node refused
 * it; the wait doubles from `SUBSCRIPTION_PING_MS` with each refusal in a row.
 */
const SUBSCRIPTION_RETRY_MAX_MS = 30_000;

/**
 * The Redis side of a global revocation ("log everybody out"): a watermark that every service
 * learns without a Redis command per request, and a sweep that deletes what it outdates.
 *
 * - `<prefix>not-before` holds the watermark (epoch ms, Redis clock); a session created before
 *   it is dead. It is announced on the pub/sub channel of the same name (Redis Cluster
 *   broadcasts PUBLISH to every node); every service reads it again whenever its
 *   subscription (re)connects, the only time pub/sub loses a message. The sweep has deleted
 *   those sessions before `revokeAllBefore` answers anyway.
 * - The sweep SCANs every master for session hashes and deletes, one small script per key,
 *   each one created before the watermark, with its index entry. Sessions created after the
 *   watermark read are never touched; one the caller keeps is moved past the watermark first.
 */
export class RedisWatermark {
  private readonly logger = new Logger(RedisWatermark.name);

  constructor(
    private readonly client: ScriptedClient,
    private readonly keys: RedisKeys,
  ) {}

  /**
   * Sets the watermark at Redis's "now", keeps one session alive, awaits `onSet` (the watermark
   * is set: the caller may act on it), sweeps; how many died. On a Cluster "now" is the latest
   * of the masters' clocks: each stamps the sessions it holds, so a master running ahead of the
   * one asked would hold sessions stamped after the watermark, made before it. A login that a
   * master running behind stamps before it is moved past it (see `RedisSessionStore.create`).
   *
   * The watermark is only ever raised (raise-watermark.lua): when a global revocation that
   * raced this one set a later one first, that one stays, and is what this one announces,
   * answers and sweeps with; it ends the session kept here as well (stamped with this one's),
   * so `kept` is null then.
   */
  async revokeAllBefore(
    keep?: SessionRef,
    onSet?: (notBefore: number) => Promise<void>,
  ): Promise<{ notBefore: number; revoked: number; kept: string | null }> {
    const nodes = this.client instanceof Cluster ? this.client.nodes('master') : [this.client];
    const clocks = await Promise.all(nodes.map(async (node) => millisecondsOf(await node.time())));
    // Every session created up to this millisecond dies, one created just after it too: a
    // login racing the global revocation has to sign in again, never the other way round.
    const notBefore = Math.max(...clocks) + 1;
    let kept: string | null = null;
    if (keep) {
      // Kept under the digest a rotation moved it to meanwhile too (keep.lua follows the
      // forward and answers the digest it kept): the caller holds that session's token now.
      // All of it in the session's slot.
      const digest = await this.keep(keep, notBefore);
      kept = digest ? sessionRef(keep.tag, digest).id : null;
    }
    const held = Number(
      await this.client.cloakroomRaiseWatermark(this.keys.notBefore(), notBefore),
    );
    if (held > notBefore) kept = null;
    await this.client.publish(this.keys.notBefore(), String(held));
    await onSet?.(held);
    let revoked = 0;
    for (const node of nodes) {
      revoked += await this.sweepNode(node, held);
    }
    return { notBefore: held, revoked, kept };
  }

  /**
   * Moves the creation time of the session at `ref` to `notBefore` (keep.lua): neither the sweep
   * nor the services' check of that watermark ends it. The digest it was found under (a
   * rotation may have just moved it), or null when there is no such session.
   */
  async keep(ref: SessionRef, notBefore: number): Promise<string | null> {
    const digest = await this.client.cloakroomKeep(
      this.keys.session(ref),
      this.keys.fence(ref.tag),
      notBefore,
      ref.digest,
      this.keys.forwardPrefix(ref.tag),
      this.keys.sessionPrefix(ref.tag),
    );
    return typeof digest === 'string' ? digest : null;
  }

  /**
   * Deletes the session a rotation (or the undo of one) has just moved to `ref` if the last
   * global revocation ended it (created at `createdAt`, before the watermark); whether it did.
   * The sweep finds every session present when it starts, so what it can miss was moved after
   * the watermark was set: read after the move, the watermark tells. A `createdAt` of 0 (not
   * known) leaves it to sweep.lua, which reads the creation time again anyway: a session the
   * revocation kept was moved past the watermark meanwhile, and stays.
   */
  async sweepMoved(ref: SessionRef, createdAt: number): Promise<boolean> {
    const notBefore = await this.read();
    if (createdAt >= notBefore) return false;
    const deleted = await this.client.cloakroomSweep(
      this.keys.session(ref),
      notBefore,
      this.keys.indexPrefix(ref.tag),
      ref.digest,
    );
    return Number(deleted) === 1;
  }

  /**
   * Deletes the sessions the user's index `index` (under `tag`) lists that the last global
   * revocation ended: put back where its sweep had not looked (an undo restoring what a login
   * set aside at the cap). Only those indexed as created before the watermark are looked at;
   * sweep.lua reads each one's creation time again (a kept session was moved past it).
   */
  async sweepIndexed(tag: string, index: string): Promise<void> {
    const notBefore = await this.read();
    if (notBefore === 0) return;
    // Index scores are creation times in microseconds.
    const digests = await this.client.zrangebyscore(index, '-inf', `(${notBefore * 1000}`);
    for (const digest of digests) {
      await this.client.cloakroomSweep(
        this.keys.session(sessionRef(tag, digest)),
        notBefore,
        this.keys.indexPrefix(tag),
        digest,
      );
    }
  }

  /**
   * The current watermark, 0 when there never was a global revocation, or when its key holds
   * another type (written by another program: the next global revocation overwrites it).
   */
  async read(): Promise<number> {
    const value = await this.client.get(this.keys.notBefore()).catch((error: unknown) => {
      if (error instanceof Error && error.message.startsWith('WRONGTYPE')) return null;
      throw error;
    });
    return Number(value) || 0;
  }

  /**
   * Calls `listener` with the watermark now and whenever it moves (announcement, or a reading
   * after a connection was made again or subscribed again; see `pingSubscription` for one that
   * went silent).
   * Returns a function that stops watching and closes the subscriber connection.
   */
  watch(listener: (notBefore: number) => void): () => void {
    let last = 0;
    const update = (value: unknown) => {
      const notBefore = Number(value) || 0;
      if (notBefore > last) {
        last = notBefore;
        listener(notBefore);
      }
    };
    const read = () =>
      this.read().then(update, () => {
        // Redis away: the store's own outage warning covers it; the next (re)connection reads.
      });
    // A single node's client subscribes again on every connection itself: ioredis' own
    // resubscription has no error handler, and with no offline queue a connection that drops
    // right then leaves an unhandled rejection (a crash, in Node). A Cluster resubscribes
    // through its own subscriber, which handles its errors.
    const subscriber =
      this.client instanceof Cluster
        ? this.client.duplicate()
        : this.client.duplicate({ autoResubscribe: false });
    const resubscribes = subscriber instanceof Cluster;
    subscriber.on('error', () => undefined);
    subscriber.on('message', (_channel: string, message: string) => update(message));
    // Subscribed once connected (clients here queue nothing offline). Reading after every
    // (re)connection catches what was announced while the subscription was down: pub/sub loses
    // messages only then.
    let subscribed = false;
    let stopped = false;
    let subscribing = false;
    let refusals = 0;
    let retryAt = 0;
    const subscribe = () => {
      subscribing = true;
      const connection = resubscribes ? clusterSubscriptionOf(subscriber) : null;
      subscriber.subscribe(this.keys.notBefore()).then(
        () => {
          subscribing = false;
          if (refusals > 0) this.logger.log('Subscribed to global revocations again');
          refusals = 0;
          void read();
        },
        (error: Error) => {
          subscribing = false;
          // A subscription the caller stopped fails with the closed connection: nothing to say.
          if (stopped) return;
          // Said once: a node that keeps refusing would otherwise fill the log at every retry.
          if (refusals === 0) {
            this.logger.warn(
              `Cannot subscribe to global revocations, trying again: ${error.message}`,
            );
          }
          // On the monotonic clock: a host clock set back after a refusal would otherwise put
          // the next try off by as long as it was set back.
          retryAt =
            performance.now() +
            Math.min(SUBSCRIPTION_RETRY_MAX_MS, SUBSCRIPTION_PING_MS * 2 ** refusals);
          refusals += 1;
          // The node that refused may be the only one that does: the next try goes to a node
          // the Cluster client picks.
          connection?.disconnect();
        },
      );
    };
    subscriber.on('ready', () => {
      if (subscribed && resubscribes) {
        void read();
        return;
      }
      subscribed = true;
      subscribe();
    });
    // The read after subscribing fails when it beats this client's own connection (both connect
    // at start, and clients here queue nothing offline). So this client's every (re)connection
    // reads as well.
    const readWhenReady = () => void read();
    this.client.on('ready', readWhenReady);
    // A Cluster subscriber is never ready again: it subscribes again on a new node connection
    // of its own, whose first ping answered in subscriber mode says the subscription is back
    // (the ping follows the SUBSCRIBE on that connection), so that is when it reads.
    // A connection whose SUBSCRIBE was refused (ACL, a transient error) answers pings all the
    // same, subscribed to nothing, and nobody subscribes it again: neither the Cluster client
    // (which drops a refused resubscription) nor a single node's, whose subscription is made
    // at each connection only. So a ping answered outside subscriber mode subscribes again,
    // refusals spaced out.
    let resubscribed: Redis | null = null;
    const answered = (connection: Redis) => {
      if (connection.mode === 'subscriber') {
        if (resubscribes && connection !== resubscribed) {
          resubscribed = connection;
          void read();
        }
        return;
      }
      if (subscribed && !subscribing && performance.now() >= retryAt) subscribe();
    };
    const pinging = pingSubscription(
      resubscribes ? () => clusterSubscriptionOf(subscriber) : () => subscriber,
      answered,
    );
    return () => {
      stopped = true;
      clearInterval(pinging);
      this.client.off('ready', readWhenReady);
      subscriber.disconnect();
    };
  }

  private async sweepNode(node: Redis, notBefore: number): Promise<number> {
    let revoked = 0;
    let cursor = '0';
    do {
      const [next, keys] = await node.scan(
        cursor,
        'MATCH',
        this.keys.allSessions(),
        'COUNT',
        SCAN_COUNT,
      );
      cursor = next;
      const results = await Promise.all(
        keys.map((key) => {
          const parsed = this.keys.parseSession(key);
          return parsed
            ? this.client.cloakroomSweep(
                key,
                notBefore,
                this.keys.indexPrefix(parsed.tag),
                parsed.digest,
              )
            : 0;
        }),
      );
      revoked += results.reduce<number>((sum, deleted) => sum + Number(deleted), 0);
    } while (cursor !== '0');
    return revoked;
  }
}

/**
 * Pings a subscribed connection (`connection()`: the one subscribed now) every
 * `SUBSCRIPTION_PING_MS`, and ends it when the previous ping is still unanswered: a
 * subscription sends nothing once made, so a connection whose Redis host died, or that a NAT or
 * a partition dropped (no FIN, no reset), would otherwise wait forever for announcements that
 * go elsewhere, this service never hearing of a global revocation again. Ended, it connects
 * again (a Cluster subscriber: to a node it picks), subscribes, and reads the watermark it
 * missed. `answered` hears of every ping answered, with its connection. The store's connection
 * is no help: it reconnects only when its own calls time out, and may have done so before the
 * revocation.
 */
function pingSubscription(
  connection: () => Redis | null,
  answered: (connection: Redis) => void = () => undefined,
): NodeJS.Timeout {
  let unanswered: Redis | null = null;
  const timer = setInterval(() => {
    const subscriber = connection();
    // 'wait': a connection the Cluster client made lazily and nothing used yet (it subscribes
    // again only where an earlier connection had subscribed); the ping connects it.
    if (!subscriber || (subscriber.status !== 'ready' && subscriber.status !== 'wait')) {
      unanswered = null;
      return;
    }
    if (unanswered === subscriber) {
      unanswered = null;
      // Destroyed, not ended politely: a host that is gone answers no FIN.
      subscriber.stream?.destroy();
      return;
    }
    unanswered = subscriber;
    subscriber.ping().then(
      () => {
        if (unanswered === subscriber) unanswered = null;
        answered(subscriber);
      },
      (error: unknown) => {
        // Redis answered (a refusal): the connection lives. A ping that timed out stays
        // unanswered; one whose connection was lost meanwhile is seen at the next tick.
        if (error instanceof ReplyError && unanswered === subscriber) unanswered = null;
      },
    );
  }, SUBSCRIPTION_PING_MS);
  timer.unref();
  return timer;
}

/**
 * The node connection a Cluster client's subscriptions go over now, or null. ioredis 5 keeps
 * it in an internal `ClusterSubscriber` (the client's `subscriber`, whose `getInstance()`
 * answers it), which replaces a connection that ended with a new one and subscribes that to
 * the same channels; no public API names it. Where a later ioredis is shaped otherwise, this
 * answers null, and the subscription goes unpinged.
 */
function clusterSubscriptionOf(cluster: Cluster): Redis | null {
  const internal = (cluster as unknown as { subscriber?: { getInstance?: () => unknown } })
    .subscriber;
  if (typeof internal?.getInstance !== 'function') return null;
  const connection: unknown = internal.getInstance();
  return connection instanceof Redis ? connection : null;
}
