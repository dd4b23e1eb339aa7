import type { IncomingMessage } from 'node:http';

import { Inject, Injectable, Logger, OnModuleDestroy } from '@nestjs/common';

import type { SessionConfig } from '../config/session.config';
import { SessionOperationNotServedError } from '../errors/session-operation-not-served.error';
import { SessionStoreUnavailableError } from '../errors/session-store-unavailable.error';
import type { SessionEvent } from '../events/session-event.interface';
import { SessionEventsItem, SessionEventsReader } from '../events/session-events.reader';
import { OriginPolicy } from '../http/origin.policy';
import { readSessionTokens } from '../http/request-token.reader';
import { SessionCookieService } from '../http/session-cookie.service';
import { NotBeforeWatermark } from '../revocation/not-before.watermark';
import {
  REQUEST_SESSION_PROPERTY,
  REQUEST_TOKEN_PROPERTY,
  SESSION_CONFIG,
  SessionEvents,
  SessionSocketClose,
} from '../session.constants';
import { SessionService } from '../session.service';
import type { Session } from '../session.types';
import { RedisSessionStore } from '../store/redis/redis-session.store';
import { SessionStore } from '../store/session-store.interface';
import { EndedSessionsLedger } from './ended-sessions.ledger';
import { SOCKET_OPEN, SessionSocket } from './session-socket.interface';

interface SocketEntry {
  sessionId: string;
  userId: string;
  token: string;
}

/** Sessions checked against the store at once by the periodic check. */
const CHECK_BATCH = 64;

/**
 * The WebSockets that carry a session. A gateway hands each new connection to `authenticate`;
 * the socket then keeps its session (`client.session`, refreshed by `SessionGuard` on every
 * message) and is closed with code 4401 as soon as its session ends: the module follows the
 * session lifecycle stream (Redis backend) and closes the sockets of a revoked, evicted,
 * expired or rotated session, of a user whose sessions were all revoked, or of everyone but the
 * spared session after a global revocation. Every open socket's session is also checked against
 * the store every `sockets.checkInterval` seconds (default 30), the bound when no event can
 * arrive (a stream gap, the `remote` backend, a store changed behind `SessionService`).
 *
 * @example
 * @WebSocketGateway({ path: '/api/orders/ws' })
 * export class OrdersGateway implements OnGatewayConnection {
 *   constructor(private readonly sockets: SessionSockets) {}
 *   handleConnection(client: WebSocket, request: IncomingMessage) {
 *     return this.sockets.authenticate(client, request);
 *   }
 *   notify(order: Order) {
 *     for (const socket of this.sockets.socketsOf(order.userId)) socket.send(JSON.stringify(order));
 *   }
 * }
 */
@Injectable()
export class SessionSockets implements OnModuleDestroy {
  private readonly logger = new Logger(SessionSockets.name);
  private readonly entries = new Map<SessionSocket, SocketEntry>();
  private readonly bySession = new Map<string, Set<SessionSocket>>();
  private readonly byUser = new Map<string, Set<SessionSocket>>();
  private readonly pending = new WeakMap<SessionSocket, Promise<Session | null>>();
  private readonly ledger: EndedSessionsLedger;
  private reader?: SessionEventsReader;
  private following?: Promise<void>;
  private timer?: NodeJS.Timeout;
  private checking?: Promise<void>;
  private getServed = true;
  private destroyed = false;

  constructor(
    private readonly sessions: SessionService,
    private readonly cookies: SessionCookieService,
    @Inject(OriginPolicy) private readonly originPolicy: OriginPolicy,
    @Inject(SessionStore) private readonly store: SessionStore,
    @Inject(NotBeforeWatermark) private readonly watermark: NotBeforeWatermark,
    @Inject(SESSION_CONFIG) private readonly config: SessionConfig,
  ) {
    // A handshake's validation lasts at most the store timeout: what it may have missed is
    // younger than that.
    this.ledger = new EndedSessionsLedger(Math.max(60_000, 2 * config.storeTimeoutMs));
  }

  /**
   * Authenticates a new connection from its upgrade request: the session cookie (whose
   * handshake must come from an allowed `Origin`) or `Authorization: Bearer`. On success the
   * socket keeps the session and its token and is registered until it closes; otherwise it is
   * closed with 4401 (1013 when the store does not answer) and the answer is null. Never rejects.
   *
   * @example
   * handleConnection(client: WebSocket, request: IncomingMessage) {
   *   return this.sockets.authenticate(client, request);
   * }
   */
  authenticate(client: SessionSocket, request: IncomingMessage): Promise<Session | null> {
    const accepted = this.accept(client, request);
    this.pending.set(client, accepted);
    return accepted;
  }

  /**
   * What `SessionGuard` calls for every message: the socket's session validated again (one
   * store call, or the local cache; the idle timeout slides as for a request), waiting for a
   * handshake still in flight. Null, and the socket closed with 4401, when the socket has no
   * session or its session ended. Rejects with `SessionStoreUnavailableError` when the store
   * does not answer (the socket stays open).
   */
  async revalidate(client: SessionSocket): Promise<Session | null> {
    await this.pending.get(client);
    const entry = this.entries.get(client);
    if (!entry) {
      this.refuse(client, 'Authentication required');
      return null;
    }
    const session = await this.sessions.validate(entry.token);
    if (!session) {
      this.end([client], 'Session ended');
      return null;
    }
    client[REQUEST_SESSION_PROPERTY] = session;
    return session;
  }

  /**
   * The open, authenticated sockets of a user, e.g. to push them what concerns them.
   *
   * @example
   * for (const socket of sockets.socketsOf(order.userId)) socket.send(JSON.stringify(event));
   */
  socketsOf(userId: string): SessionSocket[] {
    return [...(this.byUser.get(userId) ?? [])];
  }

  /** How many authenticated sockets are open. */
  get size(): number {
    return this.entries.size;
  }

  /**
   * Checks the session of every open socket against the store now, and closes those whose
   * session is gone. It runs by itself every `sockets.checkInterval` and after every gap in
   * the event stream.
   */
  checkAll(): Promise<void> {
    this.checking ??= this.checkEverySession().finally(() => {
      this.checking = undefined;
    });
    return this.checking;
  }

  async onModuleDestroy(): Promise<void> {
    this.destroyed = true;
    clearInterval(this.timer);
    this.reader?.close();
    await this.following;
  }

  private async accept(client: SessionSocket, request: IncomingMessage): Promise<Session | null> {
    const found = readSessionTokens(request.headers, this.cookies.name)[0];
    if (!found) {
      return this.refuse(client, 'Authentication required');
    }
    if (found.source === 'cookie' && !this.originPolicy.allowsHandshake(request)) {
      return this.refuse(client, 'Origin not allowed');
    }
    const since = performance.now();
    let session: Session | null;
    try {
      session = await this.sessions.validate(found.token);
    } catch (error) {
      if (!(error instanceof SessionStoreUnavailableError)) {
        this.logger.error(error);
      }
      client.close(SessionSocketClose.storeUnavailable, 'Session store unavailable');
      return null;
    }
    if (!session || this.ledger.endedSince(since, session)) {
      return this.refuse(client, 'Authentication required');
    }
    if (client.readyState !== SOCKET_OPEN || this.destroyed) {
      return null;
    }
    client[REQUEST_SESSION_PROPERTY] = session;
    client[REQUEST_TOKEN_PROPERTY] = found;
    this.register(client, { sessionId: session.id, userId: session.userId, token: found.token });
    return session;
  }

  private refuse(client: SessionSocket, reason: string): null {
    client.close(SessionSocketClose.unauthenticated, reason);
    return null;
  }

  private register(client: SessionSocket, entry: SocketEntry): void {
    this.entries.set(client, entry);
    addTo(this.bySession, entry.sessionId, client);
    addTo(this.byUser, entry.userId, client);
    client.once('close', () => this.unregister(client));
    this.follow();
    this.timer ??= setInterval(() => {
      this.ledger.prune();
      void this.checkAll();
    }, this.config.sockets.checkIntervalMs).unref();
  }

  private unregister(client: SessionSocket): void {
    const entry = this.entries.get(client);
    if (!entry) {
      return;
    }
    this.entries.delete(client);
    removeFrom(this.bySession, entry.sessionId, client);
    removeFrom(this.byUser, entry.userId, client);
    if (this.entries.size === 0) {
      clearInterval(this.timer);
      this.timer = undefined;
    }
  }

  private end(sockets: Iterable<SessionSocket>, reason: string): void {
    for (const client of [...sockets]) {
      this.unregister(client);
      client.close(SessionSocketClose.unauthenticated, reason);
    }
  }

  /** Starts following the lifecycle stream, once, when a Redis backend has one. */
  private follow(): void {
    if (this.reader || this.destroyed || !(this.store instanceof RedisSessionStore)) {
      return;
    }
    const reader = new SessionEventsReader(this.store.redis, { keyPrefix: this.config.keyPrefix });
    this.reader = reader;
    this.following = (async () => {
      for await (const item of reader.read()) {
        this.apply(item);
      }
    })().catch((error: unknown) => {
      this.logger.error(
        `Stopped following session events (${error}): open sockets are checked every ` +
          `${this.config.sockets.checkIntervalMs / 1000} s only`,
      );
    });
  }

  private apply(item: SessionEventsItem): void {
    if (item.kind === 'event') {
      this.applyEvent(item.event);
    } else if (item.kind === 'gap') {
      // Events may be missing before what follows: ask the store instead.
      void this.checkAll();
    }
  }

  private applyEvent(event: SessionEvent): void {
    switch (event.type) {
      case SessionEvents.revoked:
      case SessionEvents.evicted:
      case SessionEvents.expired:
        if (event.sessionId) this.endSession(event.sessionId, reasonOf(event));
        return;
      case SessionEvents.rotated:
        if (event.previousSessionId) this.endSession(event.previousSessionId, 'Session rotated');
        return;
      case SessionEvents.revokedAll: {
        this.ledger.user(event.userId, event.keptSessionId);
        const sockets = event.userId === null ? this.entries.keys() : this.socketsOf(event.userId);
        this.end(
          [...sockets].filter(
            (client) => this.entries.get(client)?.sessionId !== event.keptSessionId,
          ),
          'Session revoked',
        );
        return;
      }
      // Roles are read again on the socket's next message.
      case SessionEvents.rolesChanged:
      case SessionEvents.created:
        return;
    }
  }

  private endSession(sessionId: string, reason: string): void {
    this.ledger.session(sessionId);
    this.end(this.bySession.get(sessionId) ?? [], reason);
  }

  private async checkEverySession(): Promise<void> {
    const held = [...this.bySession].map(([sessionId, sockets]) => ({
      sessionId,
      token: this.entries.get(sockets.values().next().value as SessionSocket)?.token,
    }));
    for (let start = 0; start < held.length; start += CHECK_BATCH) {
      await Promise.all(
        held.slice(start, start + CHECK_BATCH).map(async ({ sessionId, token }) => {
          if (token !== undefined && (await this.isGone(sessionId, token))) {
            this.end(this.bySession.get(sessionId) ?? [], 'Session ended');
          }
        }),
      );
    }
  }

  /**
   * True when the store no longer holds the session. `get` does not slide the idle timeout
   * (an open socket alone must not keep a session alive); the `remote` backend serves only
   * `validate`. A store that does not answer leaves the socket open until the next check.
   */
  private async isGone(sessionId: string, token: string): Promise<boolean> {
    try {
      let session: Session | null;
      if (this.getServed) {
        try {
          session = await this.sessions.get(sessionId);
        } catch (error) {
          if (!(error instanceof SessionOperationNotServedError)) throw error;
          this.getServed = false;
          session = await this.sessions.validate(token);
        }
      } else {
        session = await this.sessions.validate(token);
      }
      return session === null || this.watermark.outdates(session);
    } catch {
      return false;
    }
  }
}

function reasonOf(event: SessionEvent): string {
  if (event.type === SessionEvents.expired) return 'Session expired';
  return 'Session revoked';
}

function addTo<K, V>(index: Map<K, Set<V>>, key: K, value: V): void {
  let set = index.get(key);
  if (!set) {
    set = new Set();
    index.set(key, set);
  }
  set.add(value);
}

function removeFrom<K, V>(index: Map<K, Set<V>>, key: K, value: V): void {
  const set = index.get(key);
  if (set?.delete(value) && set.size === 0) {
    index.delete(key);
  }
}
