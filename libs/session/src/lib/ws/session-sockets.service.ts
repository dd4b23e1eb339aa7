import type { IncomingMessage, ServerResponse } from 'node:http';

import { Inject, Injectable, Logger, OnModuleDestroy, Optional } from '@nestjs/common';

import { apply as applyToCache } from '../cache/session-cache.invalidator';
import type { SessionCache } from '../cache/session.cache';
import type { SessionConfig } from '../config/session.config';
import { SessionOperationNotServedError } from '../errors/session-operation-not-served.error';
import { SessionStoreUnavailableError } from '../errors/session-store-unavailable.error';
import { SessionEvent, sessionEventRef } from '../events/session-event.interface';
import { SessionEventsItem, SessionEventsReader } from '../events/session-events.reader';
import { OriginPolicy } from '../http/origin.policy';
import { readSessionToken, RequestToken } from '../http/request-token.reader';
import { SessionCookieService } from '../http/session-cookie.service';
import type { SessionRequest } from '../http/session-request.interface';
import { NotBeforeWatermark } from '../revocation/not-before.watermark';
import {
  REQUEST_SESSION_PROPERTY,
  REQUEST_TOKEN_PROPERTY,
  SESSION_CACHE,
  SESSION_CONFIG,
  SessionEvents,
  SessionSocketClose,
} from '../session.constants';
import { SessionService } from '../session.service';
import type { Session } from '../session.types';
import { RedisSessionStore } from '../store/redis/redis-session.store';
import { SessionStore } from '../store/session-store.interface';
import { EventStreamSocket } from './event-stream.socket';
import { RecentChangesLedger } from './recent-changes.ledger';
import { SOCKET_OPEN, SessionSocket } from './session-socket.interface';

/**
 * Why a WebSocket handshake is refused before its upgrade (`SessionSockets.admit`): the HTTP
 * status and `message` of the answer.
 */
export interface SessionHandshakeRefusal {
  status: 401 | 403 | 429 | 503;
  message: string;
}

/** A handshake's token and its session as one validation, begun at `since`, read them. */
interface HandshakeRead {
  found: RequestToken;
  validated: Session | null;
  since: number;
}

interface SocketEntry {
  sessionId: string;
  /** The session's name in the redacted events (`sessionEventRef`). */
  ref: string;
  userId: string;
  token: string;
  /**
   * The roles of the subscriptions run on the socket's connection, one any-of list each
   * (`holdRoles`): the session must keep one role of every list.
   */
  needs?: (readonly string[])[];
  /**
   * The upgrade request of a connection `authenticate` accepted (the session `SessionGuard`
   * attaches to it is what a GraphQL subscription's resolver and filter read), or the request
   * of a held event stream (what its route reads).
   */
  request?: SessionRequest;
  /** The roles the socket's session (and its request's) has, as the freshest news says. */
  roles: readonly string[];
  /**
   * How fresh `roles` are (`performance.now()`): when the validation or check that read them
   * began, or when the `roles.changed` event that announced them arrived. A reading that began
   * earlier answers older news, which never puts its roles back (`giveRoles`).
   */
  rolesAt: number;
}

/** Sessions checked against the store at once by the periodic check. */
const CHECK_BATCH = 64;

/**
 * How long after a session's expiry (the store's clock) its sockets' check runs: Redis has
 * deleted the key by then whatever the rounding of the clock offset.
 */
const EXPIRY_MARGIN_MS = 20;

/** The shortest wait before the expiry check of a session slid elsewhere runs again. */
const EXPIRY_RECHECK_MS = 250;

/** The longest delay `setTimeout` takes (a remembered session's deadline is further off). */
const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * The WebSockets that carry a session. A gateway hands each new connection to `authenticate`;
 * the socket then keeps its session (`client.session`, refreshed by `SessionGuard` on every
 * message) and is closed with code 4401 as soon as its session ends: the module follows the
 * session lifecycle stream (Redis backend) and closes the sockets of a revoked, evicted,
 * expired or rotated session, of a user whose sessions were all revoked, or of everyone but the
 * spared session after a global revocation. Every open socket's session is also checked against
 * the store every `sockets.checkInterval` seconds (default 30), the bound when no event can
 * arrive (a stream gap, the `remote` backend, a store changed behind `SessionService`), and at
 * the expiry it last read: Redis ends a session by its TTL without an event.
 * A connection that runs GraphQL subscriptions (`SessionGuard` registers their `@Roles`, see
 * `holdRoles`) is closed with 4403 once its session has none of the roles one of them needs:
 * at the `roles.changed` event, or at that periodic check. The responses of `@Sse()` routes
 * are held the same way (`holdStream`, called by `SessionGuard`).
 *
 * @example
 * @WebSocketGateway({ path: '/api/orders/ws' })
 * export class OrdersGateway implements OnGatewayConnection {
 *   constructor(private readonly sockets: SessionSockets) {}
 *   handleConnection(client: WebSocket, request: IncomingMessage) {
 *     return this.sockets.authenticate(client, request);
 *   }
 *   async notify(order: Order) {
 *     for (const socket of await this.sockets.liveSocketsOf(order.userId)) {
 *       socket.send(JSON.stringify(order));
 *     }
 *   }
 * }
 */
@Injectable()
export class SessionSockets implements OnModuleDestroy {
  private readonly logger = new Logger(SessionSockets.name);
  private readonly entries = new Map<SessionSocket, SocketEntry>();
  private readonly bySession = new Map<string, Set<SessionSocket>>();
  /** The id of each session in `bySession` by its ref: the events name sessions by ref. */
  private readonly idsByRef = new Map<string, string>();
  private readonly byUser = new Map<string, Set<SessionSocket>>();
  /**
   * A timer per held session, due when Redis ends it by its TTL (idle timeout or absolute
   * deadline), which publishes no event: its sockets are closed then, not at the periodic check.
   */
  private readonly expiries = new Map<string, NodeJS.Timeout>();
  private readonly pending = new WeakMap<SessionSocket, Promise<Session | null>>();
  /** Handshakes `admit` let through, by upgrade request: `accept` registers from that read. */
  private readonly admitted = new WeakMap<IncomingMessage, HandshakeRead>();
  /** Each authenticated socket by its upgrade request, for `holdRoles`. */
  private readonly byRequest = new WeakMap<object, SessionSocket>();
  private readonly ledger: RecentChangesLedger;
  private reader?: SessionEventsReader;
  private following?: Promise<void>;
  private timer?: NodeJS.Timeout;
  private checking?: Promise<void>;
  private getServed = true;
  private destroyed = false;
  /**
   * When the events last had a gap (`performance.now()`): the start of the reader, a lost
   * connection, trimmed events. A validation that began before it may have missed a change
   * the ledger never heard of.
   */
  private lastGapAt?: number;

  constructor(
    private readonly sessions: SessionService,
    private readonly cookies: SessionCookieService,
    @Inject(OriginPolicy) private readonly originPolicy: OriginPolicy,
    @Inject(SessionStore) private readonly store: SessionStore,
    @Inject(NotBeforeWatermark) private readonly watermark: NotBeforeWatermark,
    @Inject(SESSION_CONFIG) private readonly config: SessionConfig,
    @Optional() @Inject(SESSION_CACHE) private readonly cache: SessionCache | null = null,
  ) {
    // A handshake's validation lasts at most the store timeout: what it may have missed is
    // younger than that.
    this.ledger = new RecentChangesLedger(Math.max(60_000, 2 * config.storeTimeoutMs));
  }

  /**
   * Checks a WebSocket handshake before it is answered (ws's `verifyClient`): the same token,
   * `Origin` and session rules as `authenticate`, one of `roles` if any is given, and room for
   * one more socket of the user. Null when it may go on, else why not: 401 (no, malformed or
   * dead session), 403 (a cookie from a foreign or missing `Origin`, no role of `roles`), 429
   * (the user already holds `sockets.maxPerUser` sockets here), 503 (the store does not answer).
   * A refused handshake never becomes a socket; an admitted one's `authenticate` registers it
   * from this validation, not another (a session ended meanwhile still closes it with 4401).
   *
   * @example
   * afterInit(server: WebSocketServer) {
   *   server.options.verifyClient = ({ req }, done) =>
   *     void this.sockets.admit(req, ['customer']).then((refusal) =>
   *       refusal ? done(false, refusal.status, JSON.stringify(refusal)) : done(true),
   *     );
   * }
   */
  async admit(
    request: IncomingMessage,
    roles: readonly string[] = [],
  ): Promise<SessionHandshakeRefusal | null> {
    const read = await this.readHandshake(request);
    if (!('found' in read)) {
      return read;
    }
    const { validated, since } = read;
    if (!validated || this.ledger.endedSince(since, validated)) {
      return { status: 401, message: 'Authentication required' };
    }
    const session = this.withRolesSince(since, validated);
    if (roles.length && !roles.some((role) => session.roles.includes(role))) {
      return { status: 403, message: 'Missing role' };
    }
    if (this.openSocketsOf(session.userId) >= this.config.sockets.maxPerUser) {
      return { status: 429, message: 'Too many sockets' };
    }
    this.admitted.set(request, read);
    return null;
  }

  /**
   * Authenticates a new connection from its upgrade request: the session cookie (whose
   * handshake must come from an allowed `Origin`) or `Authorization: Bearer`, as
   * `readSessionToken` reads them (several different session cookies, or more than one
   * `Authorization` header line: refused). On success the
   * socket keeps the session and its token and is registered until it closes; otherwise it is
   * closed with 4401 (1013 when the store does not answer; 1008 when the user already holds
   * `sockets.maxPerUser` open sockets here) and the answer is null. Never rejects.
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
    const since = performance.now();
    const validated = await this.sessions.validate(entry.token);
    if (!validated) {
      this.end([client], 'Session ended');
      return null;
    }
    const session = attach(client, this.advance(client, validated, since));
    if (this.entries.has(client)) {
      this.watchExpiry(entry.sessionId, session.expiresAt);
    }
    return session;
  }

  /**
   * The session `SessionGuard` attaches to `request` for a GraphQL operation validated from
   * `since` (`performance.now()`). For the upgrade request of a connection `authenticate`
   * accepted, which every operation of the connection shares and whose session the running
   * subscriptions' filters read, that is the session validated with the freshest roles this
   * service knows: those of a `roles.changed` event that arrived while it was validated, or,
   * when a reading that began later or an event already gave the connection newer ones, those.
   * An operation validated before a change never puts the old roles back, whenever its answer
   * arrives. The request keeps one session object, updated in place, so a resolver that was
   * handed it (`@CurrentSession()`) reads the new roles too. Any other request: `session`.
   */
  settle(request: object, session: Session, since: number): Session {
    const client = this.byRequest.get(request);
    if (!client || !this.entries.has(client)) {
      return session;
    }
    return attach(request as SessionRequest, this.advance(client, session, since));
  }

  /**
   * Registers that the connection `request` upgraded runs something (a GraphQL subscription,
   * for which `SessionGuard` calls it) that needs one of `roles` (none: nothing is held), from
   * the session validated at or after `since` (`performance.now()`). From then on the
   * connection is closed with 4403 as soon as its session has none of them: when the
   * `roles.changed` event arrives (or arrived while that validation was in flight), or at the
   * periodic check. The registration lasts as long as the connection, whether the subscription
   * ended or not. A change that arrived while that validation was in flight and leaves the
   * connection open gives the request's session its roles, with or without `roles`. Nothing
   * happens for a request of no socket `authenticate` accepted.
   */
  holdRoles(request: object, roles: readonly string[], since: number): void {
    const client = this.byRequest.get(request);
    const entry = client && this.entries.get(client);
    if (!client || !entry) {
      return;
    }
    const needs = roles.length ? [[...roles]] : undefined;
    const same = (held: readonly string[]) =>
      held.length === roles.length && held.every((r, i) => r === roles[i]);
    if (needs && !entry.needs?.some(same)) {
      (entry.needs ??= []).push(...needs);
    }
    const changed = this.ledger.rolesSince(since, entry.userId);
    if (changed && !satisfies(changed, needs)) {
      this.forbid([client]);
    } else if (changed) {
      // The request may carry the roles the store answered before the change (a caller that
      // attached them without `settle`): it takes the freshest the socket knows.
      this.giveRoles(client, changed, since);
      this.putRoles(client, entry);
    }
    this.recheckIfMissed(since);
  }

  /**
   * Holds the response of a server-sent events route (`@Sse()`) whose `request` `SessionGuard`
   * let through with the session and token it attached, validated at or after `since`
   * (`performance.now()`): the stream ends, with a last `session-ended` event
   * (`EventStreamSocket`), as soon as the session ends — as a socket's would — or has none of
   * `roles` (the route's `@Roles`, if any). Answers what the guard must do: `held` (the
   * request's session then has the roles of a change that arrived while that validation was in
   * flight, as the route reads them); or `ended` / `forbidden` when such a change ended the
   * session or took the roles away; or `too-many` when the user already holds
   * `sockets.maxStreamsPerUser` open streams here (checked and registered in one synchronous
   * step, so parallel requests cannot pass it).
   */
  holdStream(
    response: ServerResponse,
    request: SessionRequest,
    roles: readonly string[] | undefined,
    since: number,
  ): 'held' | 'ended' | 'forbidden' | 'too-many' {
    const session = request[REQUEST_SESSION_PROPERTY] as Session;
    const token = request[REQUEST_TOKEN_PROPERTY]?.token as string;
    const needs = roles?.length ? [[...roles]] : undefined;
    const roleChange = this.ledger.rolesSince(since, session.userId);
    if (this.ledger.endedSince(since, session)) {
      return 'ended';
    }
    if (roleChange && !satisfies(roleChange, needs)) {
      return 'forbidden';
    }
    if (this.openStreamsOf(session.userId) >= this.config.sockets.maxStreamsPerUser) {
      return 'too-many';
    }
    // The request's own copy, which later changes update in place: what the route reads, on the
    // request or as the session it was handed, follows the session while the stream lives.
    const current = roleChange ?? session.roles;
    request[REQUEST_SESSION_PROPERTY] = { ...session, roles: [...current] };
    const stream = new EventStreamSocket(response);
    if (stream.readyState === SOCKET_OPEN && !this.destroyed) {
      this.register(
        stream,
        {
          sessionId: session.id,
          userId: session.userId,
          token,
          needs,
          request,
          roles: current,
          rolesAt: since,
        },
        session.expiresAt,
      );
      this.recheckIfMissed(since);
    }
    return 'held';
  }

  /**
   * The open, authenticated sockets of a user, e.g. to push them what concerns them (event
   * streams, which their routes feed, are not among them).
   *
   * @example
   * for (const socket of sockets.socketsOf(order.userId)) socket.send(JSON.stringify(event));
   */
  socketsOf(userId: string): SessionSocket[] {
    return this.heldBy(userId).filter((held) => !(held instanceof EventStreamSocket));
  }

  /**
   * The user's open sockets (as `socketsOf`) whose sessions the store holds live now, each
   * session read once without sliding its idle timeout (by token where the backend serves only
   * validation): for a push that must reach no socket whose session has ended, whether or not
   * its event has arrived (a revocation answers before its event reaches this process; a gap in
   * the events brings none). Sockets of a session found gone are closed with 4401, as at the
   * periodic check, and those whose session no longer has a role they are held to
   * (`holdRoles`) with 4403, its `roles.changed` event arrived or not; those of a session the
   * store did not answer for are closed with 1013 (try again later) rather than sent what could
   * not be checked.
   *
   * @example
   * for (const socket of await sockets.liveSocketsOf(order.userId)) socket.send(frame);
   */
  async liveSocketsOf(userId: string): Promise<SessionSocket[]> {
    const bySession = new Map<string, { token: string; held: SessionSocket[] }>();
    for (const client of this.socketsOf(userId)) {
      const entry = this.entries.get(client);
      if (entry === undefined || client.readyState !== SOCKET_OPEN) {
        continue;
      }
      const group = bySession.get(entry.sessionId) ?? { token: entry.token, held: [] };
      group.held.push(client);
      bySession.set(entry.sessionId, group);
    }
    const live = await Promise.all(
      [...bySession].map(async ([sessionId, { token, held }]) => {
        const since = performance.now();
        const read = await this.current(sessionId, token);
        const session = read && this.withRolesSince(since, read);
        if (session === undefined) {
          for (const client of held) {
            this.unregister(client);
            client.close(SessionSocketClose.storeUnavailable, 'Session store unavailable');
          }
          return [];
        }
        if (session === null || session.userId !== userId) {
          this.end(held, 'Session ended');
          return [];
        }
        // The store's roles, as at the periodic check: a push racing a role change's event
        // reaches no socket whose session has lost the roles its subscriptions hold it to.
        for (const client of held) this.giveRoles(client, session.roles, since);
        this.forbid(
          held.filter((client) => {
            const entry = this.entries.get(client);
            return entry !== undefined && !satisfies(entry.roles, entry.needs);
          }),
        );
        return held.filter((client) => client.readyState === SOCKET_OPEN);
      }),
    );
    return live.flat();
  }

  /** How many of the user's sockets (not event streams) are open, closing ones aside. */
  private openSocketsOf(userId: string): number {
    return this.socketsOf(userId).filter((held) => held.readyState === SOCKET_OPEN).length;
  }

  /** How many of the user's held event streams are open, closing ones aside. */
  private openStreamsOf(userId: string): number {
    return this.heldBy(userId).filter(
      (held) => held instanceof EventStreamSocket && held.readyState === SOCKET_OPEN,
    ).length;
  }

  /** How many authenticated sockets and held event streams are open. */
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
    for (const timer of this.expiries.values()) clearTimeout(timer);
    this.expiries.clear();
    this.reader?.close();
    await this.following;
  }

  private async accept(client: SessionSocket, request: IncomingMessage): Promise<Session | null> {
    const read = this.admitted.get(request) ?? (await this.readHandshake(request));
    this.admitted.delete(request);
    if (!('found' in read)) {
      if (read.status === 503) {
        client.close(SessionSocketClose.storeUnavailable, read.message);
        return null;
      }
      return this.refuse(client, read.message);
    }
    const { found, validated, since } = read;
    if (!validated || this.ledger.endedSince(since, validated)) {
      return this.refuse(client, 'Authentication required');
    }
    if (client.readyState !== SOCKET_OPEN || this.destroyed) {
      return null;
    }
    if (this.openSocketsOf(validated.userId) >= this.config.sockets.maxPerUser) {
      client.close(SessionSocketClose.tooMany, 'Too many sockets');
      return null;
    }
    const session = this.withRolesSince(since, validated);
    // The socket's own copy: later changes update it in place (`giveRoles`).
    client[REQUEST_SESSION_PROPERTY] = { ...session, roles: [...session.roles] };
    client[REQUEST_TOKEN_PROPERTY] = found;
    this.register(
      client,
      {
        sessionId: session.id,
        userId: session.userId,
        token: found.token,
        request: request as SessionRequest,
        roles: session.roles,
        rolesAt: since,
      },
      session.expiresAt,
    );
    this.byRequest.set(request, client);
    this.recheckIfMissed(since);
    return session;
  }

  /**
   * The handshake's token (its header lines as received: two `Authorization` lines are refused,
   * as by the guard), the `Origin` rule for a cookie, and one validation of its session; or why
   * it is refused before any validation (401, 403), or because the store did not answer (503).
   */
  private async readHandshake(
    request: IncomingMessage,
  ): Promise<HandshakeRead | SessionHandshakeRefusal> {
    const found = readSessionToken(request.headers, this.cookies.name, request.rawHeaders);
    if (!found) {
      return { status: 401, message: 'Authentication required' };
    }
    if (found.source === 'cookie' && !this.originPolicy.allowsHandshake(request)) {
      return { status: 403, message: 'Origin not allowed' };
    }
    const since = performance.now();
    try {
      return { found, validated: await this.sessions.validate(found.token), since };
    } catch (error) {
      if (!(error instanceof SessionStoreUnavailableError)) {
        this.logger.error(error);
      }
      return { status: 503, message: 'Session store unavailable' };
    }
  }

  /**
   * A socket, stream or subscription registered from a validation that began before the last
   * gap in the events: a change in between reached neither the ledger nor the check that gap
   * started (which ran before this registration), so the store is asked once more. Before the
   * reader's first gap, that gap's own check will come after this registration.
   */
  private recheckIfMissed(since: number): void {
    if (this.lastGapAt === undefined || since > this.lastGapAt) {
      return;
    }
    const again = () => void this.checkAll();
    if (this.checking) {
      this.checking.then(again, again);
    } else {
      again();
    }
  }

  /** The user's sockets and event streams. */
  private heldBy(userId: string): SessionSocket[] {
    return [...(this.byUser.get(userId) ?? [])];
  }

  private refuse(client: SessionSocket, reason: string): null {
    client.close(SessionSocketClose.unauthenticated, reason);
    return null;
  }

  /**
   * `session` as validated from `since` (`performance.now()`), with the roles of a
   * `roles.changed` event that arrived meanwhile: the event found nothing to update then (or
   * updated what this answer would overwrite), and the store may have answered before the change.
   */
  private withRolesSince(since: number, session: Session): Session {
    const roles = this.ledger.rolesSince(since, session.userId);
    return roles ? { ...session, roles: [...roles] } : session;
  }

  /**
   * A copy of `session`, read for a held socket by a validation that began at `since`, with
   * the freshest roles known: its own (with those of a change that arrived meanwhile), which
   * the socket then takes, unless the socket already knows newer ones.
   */
  private advance(client: SessionSocket, session: Session, since: number): Session {
    const read = this.withRolesSince(since, session);
    this.giveRoles(client, read.roles, since);
    const roles = this.entries.get(client)?.roles ?? read.roles;
    return { ...read, roles: [...roles] };
  }

  private register(client: SessionSocket, held: Omit<SocketEntry, 'ref'>, expiresAt: number): void {
    const entry = { ...held, ref: sessionEventRef(held.sessionId) };
    this.entries.set(client, entry);
    this.idsByRef.set(entry.ref, entry.sessionId);
    addTo(this.bySession, entry.sessionId, client);
    addTo(this.byUser, entry.userId, client);
    client.once('close', () => this.unregister(client));
    this.watchExpiry(entry.sessionId, expiresAt);
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
    if (!this.bySession.has(entry.sessionId)) {
      this.idsByRef.delete(entry.ref);
      clearTimeout(this.expiries.get(entry.sessionId));
      this.expiries.delete(entry.sessionId);
    }
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

  /** Closes connections whose session lost every role one of their subscriptions needs. */
  private forbid(sockets: Iterable<SessionSocket>): void {
    for (const client of [...sockets]) {
      this.unregister(client);
      client.close(SessionSocketClose.forbidden, 'Role removed');
    }
  }

  /**
   * A user's sessions have new roles: the sockets' sessions take them (for what an app pushes
   * by `socketsOf`), and the connections whose subscriptions need a role gone are closed.
   */
  private rolesChanged(userId: string, roles: readonly string[]): void {
    const at = performance.now();
    this.ledger.rolesChanged(userId, roles, at);
    const lost: SessionSocket[] = [];
    for (const client of this.heldBy(userId)) {
      this.giveRoles(client, roles, at);
      if (!satisfies(roles, this.entries.get(client)?.needs)) {
        lost.push(client);
      }
    }
    this.forbid(lost);
  }

  /**
   * The socket's session, and the one its request carries (a connection's upgrade request, an
   * event stream's request), take `roles`, known as of `at` (`performance.now()`), unless the
   * socket already knows roles as of later: a subscription filtering by role, still open
   * because the session kept one role it needs, reads them from then on, not those it started
   * with, and an answer read before a change never puts the old ones back. In place: the
   * session objects are the socket's own copies (`accept`, `attach`, `holdStream`), which a
   * route or resolver may have been handed (`@CurrentSession()`).
   */
  private giveRoles(client: SessionSocket, roles: readonly string[], at: number): void {
    const entry = this.entries.get(client);
    if (!entry || at < entry.rolesAt) {
      return;
    }
    entry.roles = roles;
    entry.rolesAt = at;
    this.putRoles(client, entry);
  }

  /** Writes the roles the socket knows into its session and its request's, in place. */
  private putRoles(client: SessionSocket, entry: SocketEntry): void {
    for (const holder of entry.request ? [client, entry.request] : [client]) {
      const session = holder[REQUEST_SESSION_PROPERTY];
      if (session) session.roles = [...entry.roles];
    }
  }

  /** Starts following the lifecycle stream, once, when a Redis backend has one. */
  private follow(): void {
    if (this.reader || this.destroyed || !(this.store instanceof RedisSessionStore)) {
      return;
    }
    const reader = new SessionEventsReader(this.store.redis, {
      keyPrefix: this.config.keyPrefix,
      redacted: true,
    });
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
      // The local cache follows the stream on a reader of its own, which may hear of this event
      // later: a handshake or subscription that begins in between would be validated from the
      // cache's copy of the session as it was, yet look younger than the change to the ledger.
      if (this.cache) applyToCache(this.cache, item);
      this.applyEvent(item.event);
    } else if (item.kind === 'gap') {
      // Events may be missing before what follows: ask the store instead.
      this.askTheStore();
    }
  }

  /**
   * Reads every held session from the store again, and has a registration whose validation
   * began before now read its session once more (`recheckIfMissed`): for what the events
   * did not say.
   */
  private askTheStore(): void {
    this.lastGapAt = performance.now();
    void this.checkAll();
  }

  private applyEvent(event: SessionEvent): void {
    switch (event.type) {
      case SessionEvents.revoked:
      case SessionEvents.evicted:
      case SessionEvents.expired:
        if (event.sessionRef) this.endSession(event.sessionRef, reasonOf(event));
        return;
      case SessionEvents.rotated:
        if (event.previousSessionRef) this.endSession(event.previousSessionRef, 'Session rotated');
        return;
      case SessionEvents.revokedAll: {
        this.ledger.user(event.userId, event.keptSessionRef);
        const sockets = event.userId === null ? this.entries.keys() : this.heldBy(event.userId);
        this.end(
          [...sockets].filter((client) => this.entries.get(client)?.ref !== event.keptSessionRef),
          'Session revoked',
        );
        return;
      }
      // Messages read the roles again anyway; subscriptions hold theirs (`holdRoles`).
      case SessionEvents.rolesChanged:
        if (event.userId !== null && event.roles) {
          this.rolesChanged(event.userId, event.roles);
        } else {
          // A change whose write failed: perhaps made, perhaps not. Its roles are not taken on
          // trust (a promotion answered 503 must not reach the sockets): the store is asked.
          this.askTheStore();
        }
        return;
      // A login ends nothing, nor do new attributes (a message's validation reads them).
      case SessionEvents.created:
      case SessionEvents.patched:
        return;
    }
  }

  private endSession(ref: string, reason: string): void {
    this.ledger.session(ref);
    const sessionId = this.idsByRef.get(ref);
    this.end((sessionId !== undefined && this.bySession.get(sessionId)) || [], reason);
  }

  /**
   * (Re)arms the session's expiry timer for `at` (epoch ms, the store's clock): then its
   * sockets' session is read again, and they are closed if Redis has ended it.
   */
  private watchExpiry(sessionId: string, at: number): void {
    clearTimeout(this.expiries.get(sessionId));
    this.expiries.delete(sessionId);
    // A remote caller whose capability grants no time fields knows no expiry: the periodic
    // check is its bound (a timer of NaN ms would fire at once, again and again).
    if (this.destroyed || !Number.isFinite(at)) {
      return;
    }
    const delay = Math.min(MAX_TIMER_MS, Math.max(0, at - this.sessions.now()) + EXPIRY_MARGIN_MS);
    this.expiries.set(sessionId, setTimeout(() => void this.expire(sessionId), delay).unref());
  }

  private async expire(sessionId: string): Promise<void> {
    this.expiries.delete(sessionId);
    const first = this.bySession.get(sessionId)?.values().next().value;
    const token = first && this.entries.get(first)?.token;
    if (token === undefined) {
      return;
    }
    const session = await this.current(sessionId, token);
    const sockets = this.bySession.get(sessionId);
    if (!sockets) {
      return;
    }
    if (session === null) {
      this.end(sockets, 'Session expired');
    } else if (session) {
      // Alive: it was used elsewhere meanwhile.
      this.watchExpiry(sessionId, this.nextExpiryCheck(session));
    }
    // The store did not answer: the periodic check looks again, every session in batches, and
    // arms the timer anew; one retry per session would hammer a store coming back.
  }

  /**
   * When to look again at a live session. `get` reads no last touch (validation slides the TTL
   * only), so a session found alive past the expiry it reports was slid by use elsewhere: it
   * ends at most one idle timeout from now, and is looked at every tenth of that (as often as
   * a validation may slide it), never past its absolute deadline. NaN (no timer) for a session
   * read without its time fields.
   */
  private nextExpiryCheck(session: Session): number {
    const { expiresAt, lastSeenAt, absoluteExpiresAt } = session;
    if (![expiresAt, lastSeenAt, absoluteExpiresAt].every(Number.isFinite)) {
      return NaN;
    }
    const now = this.sessions.now();
    if (session.expiresAt > now) {
      return session.expiresAt;
    }
    const idleTimeoutMs = Math.max(0, session.expiresAt - session.lastSeenAt);
    return Math.min(
      session.absoluteExpiresAt,
      now + Math.max(EXPIRY_RECHECK_MS, Math.floor(idleTimeoutMs / 10)),
    );
  }

  private async checkEverySession(): Promise<void> {
    const held = [...this.bySession].map(([sessionId, sockets]) => ({
      sessionId,
      token: this.entries.get(sockets.values().next().value as SessionSocket)?.token,
    }));
    for (let start = 0; start < held.length; start += CHECK_BATCH) {
      await Promise.all(
        held.slice(start, start + CHECK_BATCH).map(async ({ sessionId, token }) => {
          if (token === undefined) {
            return;
          }
          const since = performance.now();
          const read = await this.current(sessionId, token);
          const session = read && this.withRolesSince(since, read);
          const sockets = this.bySession.get(sessionId) ?? [];
          if (session === null) {
            this.end(sockets, 'Session ended');
          } else if (session) {
            if (this.bySession.has(sessionId)) {
              this.watchExpiry(sessionId, this.nextExpiryCheck(session));
            }
            // The sockets' sessions take the store's roles, as at a `roles.changed` event,
            // unless an event that arrived since the read began gave them newer ones.
            for (const client of sockets) this.giveRoles(client, session.roles, since);
            this.forbid(
              [...sockets].filter((client) => {
                const entry = this.entries.get(client);
                return entry !== undefined && !satisfies(entry.roles, entry.needs);
              }),
            );
          }
        }),
      );
    }
  }

  /**
   * The session as the store holds it now, null when it is gone (or revoked by the watermark).
   * `get` does not slide the idle timeout (an open socket alone must not keep a session
   * alive); the `remote` backend serves only `validate`. Undefined when the store does not
   * answer, which leaves the sockets open until the next check.
   */
  private async current(sessionId: string, token: string): Promise<Session | null | undefined> {
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
      return session === null || this.watermark.outdates(session) ? null : session;
    } catch {
      return undefined;
    }
  }
}

/**
 * Puts `session` on `holder` (a socket, an upgrade request): into the session object it holds
 * when that is the same session's, so that whoever was handed that object reads the update.
 */
function attach(holder: SessionRequest, session: Session): Session {
  const held = holder[REQUEST_SESSION_PROPERTY];
  if (held?.id !== session.id) {
    holder[REQUEST_SESSION_PROPERTY] = session;
    return session;
  }
  return Object.assign(held, session);
}

/** Whether `roles` hold one role of every list in `needs`. */
function satisfies(roles: readonly string[], needs: (readonly string[])[] | undefined): boolean {
  return !needs || needs.every((anyOf) => anyOf.some((role) => roles.includes(role)));
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
