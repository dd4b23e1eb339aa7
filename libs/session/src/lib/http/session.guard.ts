import type { ServerResponse } from 'node:http';

import {
  CanActivate,
  ExecutionContext,
  ForbiddenException,
  HttpException,
  HttpStatus,
  Inject,
  Injectable,
  Logger,
  OnApplicationBootstrap,
  Optional,
  UnauthorizedException,
} from '@nestjs/common';
import { SSE_METADATA } from '@nestjs/common/constants';
import { ModulesContainer, Reflector } from '@nestjs/core';

import { messagePeerOf } from '../assertion/message-peer';
import { SessionAssertions } from '../assertion/session-assertions.service';

import type { SessionConfig } from '../config/session.config';
import { SessionAssertionRefusedError } from '../errors/session-assertion-refused.error';
import type { SessionGuardOutcome, SessionMetrics } from '../metrics/session-metrics.interface';
import { SessionStoreUnavailableError } from '../errors/session-store-unavailable.error';
import {
  REQUEST_SESSION_PROPERTY,
  REQUEST_TOKEN_PROPERTY,
  SESSION_ASSERTION_FIELD,
  SESSION_CONFIG,
  SESSION_METRICS,
} from '../session.constants';
import { RefusalLog } from '../logging/refusal-log';
import { SessionService } from '../session.service';
import type { Session } from '../session.types';
import { SOCKET_OPEN, SessionSocket } from '../ws/session-socket.interface';
import { SessionSockets } from '../ws/session-sockets.service';
import { unguardedFieldResolvers } from './field-resolver.check';
import { OriginCheckedRequest, OriginPolicy } from './origin.policy';
import { IS_PUBLIC_KEY } from './public.decorator';
import { ReauthenticationRequiredException } from './reauthentication-required.exception';
import { rawHeadersOf, readSessionToken, RequestToken } from './request-token.reader';
import { RecentAuthRule, RequireRecentAuth } from './require-recent-auth.decorator';
import { rpcExceptionClass } from './rpc-exception';
import { Roles } from './roles.decorator';
import { graphqlRequestOf, rpcCarrierOf } from './session-carrier';
import { SessionCookieService } from './session-cookie.service';
import type { SessionRequest } from './session-request.interface';

/**
 * A route's access rule, read once per handler from its metadata.
 *
 * @example
 * class StagingGuard extends SessionGuard {
 *   // a private staging deployment: only the health check answers without a session
 *   protected override shouldSkip(context: ExecutionContext, rule: RouteRule): boolean {
 *     return rule.isPublic && context.getClass() === HealthController;
 *   }
 * }
 */
export interface RouteRule {
  isPublic: boolean;
  roles: string[] | undefined;
  /**
   * `@RequireRecentAuth()`: how recent (ms) the session's `authenticatedAt` must be; undefined
   * when the route does not ask.
   */
  recentAuthMs: number | undefined;
  /** `@Sse()`: the response is held until the session ends (`SessionSockets.holdStream`). */
  stream: boolean;
}

type GuardedRequest = OriginCheckedRequest & SessionRequest;

/** One validation per HTTP request, however many GraphQL resolvers it runs. */
const VALIDATED = Symbol('cloakroom.validated');

/**
 * A validation under way or done for one request or GraphQL operation: its token, its answer,
 * and when it began (`performance.now()`), which says how old its answer may be.
 */
interface Validation {
  token: string;
  session: Promise<Session | null>;
  since: number;
}

/** What turns a validated session into the one attached (`SessionSockets.settle`). */
type Settle = (session: Session, since: number) => Session;

/**
 * One verification per microservice message, by its payload, however many `SessionGuard`s
 * (a global one and a handler's own, instances of their own) check it: the first takes the
 * assertion out of the payload, the next ones find it here. Shared by every instance.
 */
const VERIFIED = new WeakMap<object, Promise<Session>>();

/** `@nestjs/microservices`' metadata of a handler's kind, and the kind of `@EventPattern`. */
const PATTERN_HANDLER_METADATA = 'microservices:handler_type';
const EVENT_HANDLER = 2;

/**
 * What the guard sends on a WebSocket whose message it refuses while the session lives (missing
 * role, authentication not recent enough, store down), as the frame
 * `{ "event": "exception", "data": { status, message, error?, pattern } }`.
 *
 * @example
 * class CountingGuard extends SessionGuard {
 *   protected override refuseMessage(socket: SessionSocket, refusal: SocketRefusal, on: string) {
 *     refusals.inc({ status: refusal.status, pattern: on });
 *     super.refuseMessage(socket, refusal, on);
 *   }
 * }
 */
export interface SocketRefusal {
  status: 401 | 403 | 503;
  message: string;
  error?: string;
}

/**
 * Default-deny guard: a route needs a live session unless marked `@Public()`, and one of its
 * `@Roles()` if it has any, and an authentication within its window if it is marked
 * `@RequireRecentAuth()`. Works on Express and Fastify, in GraphQL resolvers (the same rules
 * on the operation's HTTP request), on WebSocket messages of sockets `SessionSockets`
 * authenticated, and on `@Sse()` routes, whose streams `SessionSockets` ends with the session.
 * On success it attaches the session and the token it came with to the request or socket
 * (`SessionRequest`). Extend it by overriding the protected hooks.
 *
 * Answers: no or bad session 401; missing role 403; cookie-authenticated unsafe request from
 * a foreign origin 403; authentication not recent enough 401 `reauthentication_required`;
 * session store down or slow 503 (`SessionStoreUnavailableError`). GraphQL: the same
 * exceptions, which Nest's Apollo driver turns into `extensions.code` `UNAUTHENTICATED` /
 * `FORBIDDEN`. WebSocket message: a dead session closes the socket with 4401; the others
 * send an `exception` frame (`SocketRefusal`) and drop the message. Microservice message
 * (`@MessagePattern`, `@EventPattern`): it needs a session assertion (`SessionClient`) that
 * `SessionAssertions` accepts, checked against the store on every message; refusals are RPC
 * errors `{ status, error, message }` (`refuseRpc`). The app refuses to start when a GraphQL
 * field resolver names a requirement that GraphQL would never have the guard check.
 *
 * @example
 * providers: [{ provide: APP_GUARD, useClass: SessionGuard }]
 */
@Injectable()
export class SessionGuard implements CanActivate, OnApplicationBootstrap {
  private readonly rules = new WeakMap<object, WeakMap<object, RouteRule>>();
  private readonly logger = new Logger(SessionGuard.name);
  /**
   * Refused events, by handler and reason: a flood logs each kind once a minute, with the count
   * of those not logged (an unexpected error's message could make each refusal new: the kinds
   * remembered are bounded).
   */
  private readonly refusedEvents = new RefusalLog(this.logger);

  constructor(
    protected readonly sessions: SessionService,
    protected readonly reflector: Reflector,
    protected readonly cookies: SessionCookieService,
    @Inject(OriginPolicy) protected readonly originPolicy: OriginPolicy,
    @Inject(SESSION_CONFIG) protected readonly config: SessionConfig,
    @Optional()
    @Inject(SessionSockets)
    protected readonly sockets: SessionSockets | null = null,
    @Optional()
    @Inject(SessionAssertions)
    protected readonly assertions: SessionAssertions | null = null,
    @Optional()
    @Inject(SESSION_METRICS)
    protected readonly metrics: SessionMetrics | null = null,
    @Optional()
    @Inject(ModulesContainer)
    private readonly modules: ModulesContainer | null = null,
  ) {}

  /**
   * Refuses to start with a `@ResolveField` that carries `@Roles` or `@RequireRecentAuth` (its
   * own or its resolver's) while the GraphQL module runs no guard on field resolvers: the field
   * would be resolved for anyone who reached its parent, the requirement never checked.
   */
  onApplicationBootstrap(): void {
    const unguarded = this.modules ? unguardedFieldResolvers(this.modules, this.reflector) : [];
    if (unguarded.length > 0) {
      throw new Error(
        `SessionGuard: ${unguarded.join(', ')} name @Roles or @RequireRecentAuth, which GraphQL ` +
          "checks on a field resolver only with fieldResolverEnhancers: ['guards'] in " +
          'GraphQLModule options',
      );
    }
  }

  /**
   * True, or a promise of it; refusals are thrown (or rejected). A request whose session the
   * local cache holds is answered synchronously, so Nest does not await it.
   */
  canActivate(context: ExecutionContext): boolean | Promise<boolean> {
    const rule = this.ruleFor(context);
    if (this.shouldSkip(context, rule)) {
      if (context.getType<string>() === 'rpc') {
        // A message handler that needs no session must not see one's assertion either.
        takeAssertion(context);
      }
      return true;
    }
    if (context.getType<string>() !== 'http') {
      return this.metrics ? this.activateMeasured(context, rule) : this.activate(context, rule);
    }
    // The HTTP hot path: a cache hit without a promise, else the request's own promise
    // without two async frames around it; counted, when metrics are on, without one either.
    const http = context.switchToHttp();
    const request = http.getRequest<GuardedRequest>();
    forbidCaching(http.getResponse());
    if (rule.stream && this.sockets) {
      const held = this.activateStream(context, request, rule, this.sockets);
      return this.metrics ? held.then(this.countHttpPass, this.countHttpRefusal) : held;
    }
    if (this.metrics) {
      return this.activateHttpMeasured(request, rule, this.metrics);
    }
    return this.activateCached(request, rule) ?? this.activateRequest(request, rule);
  }

  private activateHttpMeasured(
    request: GuardedRequest,
    rule: RouteRule,
    metrics: SessionMetrics,
  ): true | Promise<boolean> {
    let cached: true | undefined;
    try {
      cached = this.activateCached(request, rule);
    } catch (error) {
      return this.countHttpRefusal(error);
    }
    if (cached) {
      metrics.guardOutcome('ok', 'http');
      return true;
    }
    return this.activateRequest(request, rule).then(this.countHttpPass, this.countHttpRefusal);
  }

  // Made once, not per request: the measured HTTP path's outcome handlers.
  private readonly countHttpPass = (allowed: boolean): boolean => {
    this.metrics?.guardOutcome(allowed ? 'ok' : '401', 'http');
    return allowed;
  };

  private readonly countHttpRefusal = (error: unknown): never => {
    this.metrics?.guardOutcome(outcomeOf(error), 'http');
    throw error;
  };

  private async activateMeasured(context: ExecutionContext, rule: RouteRule): Promise<boolean> {
    const type = context.getType<string>();
    try {
      const allowed = await this.activate(context, rule);
      // A socket message refused in place (a frame or a close) was counted with its status
      // where it was refused; any other false is a refusal without one.
      if (allowed || type !== 'ws') {
        this.metrics?.guardOutcome(allowed ? 'ok' : '401', type);
      }
      return allowed;
    } catch (error) {
      this.metrics?.guardOutcome(outcomeOf(error), type);
      throw error;
    }
  }

  private async activate(context: ExecutionContext, rule: RouteRule): Promise<boolean> {
    switch (context.getType<string>()) {
      case 'http':
        return this.activateRequest(context.switchToHttp().getRequest<GuardedRequest>(), rule);
      case 'graphql':
        return this.activateOperation(context, rule);
      case 'ws': {
        const ws = context.switchToWs();
        return this.activateMessage(ws.getClient<SessionSocket>(), rule, ws.getPattern());
      }
      case 'rpc':
        return this.activateRpc(context, rule);
      default:
        return false;
    }
  }

  /** True lets the request through without a session. Default: `@Public()` routes. */
  protected shouldSkip(_context: ExecutionContext, rule: RouteRule): boolean {
    return rule.isPublic;
  }

  /**
   * The HTTP request of a GraphQL operation: `req` of the resolver's context (third argument),
   * as the Apollo and Mercurius drivers set it. Override it for a context factory that keeps
   * the request elsewhere.
   */
  protected getGraphqlRequest(context: ExecutionContext): GuardedRequest | undefined {
    return graphqlRequestOf<GuardedRequest>(context);
  }

  /**
   * The token to validate and where it came from, as `readSessionToken` reads it; null (401)
   * without one, with several different tokens (session cookies, a cookie and a bearer
   * token), or with more than one `Authorization` header line. The cookie is not cleared then: a
   * `Set-Cookie` can only reach the one at `Path=/`, the user's, and would leave the planted one.
   */
  protected getToken(request: OriginCheckedRequest): RequestToken | null {
    return readSessionToken(request.headers, this.cookies.name, rawHeadersOf(request));
  }

  /**
   * The live session a token names, or null. A store failure rejects with
   * `SessionStoreUnavailableError`, which Nest answers 503: never a pass, never a 500.
   */
  protected validate(token: string): Promise<Session | null> {
    return this.sessions.validate(token);
  }

  /** Any-of role check. */
  protected hasRole(session: Session, required: string[]): boolean {
    return required.some((role) => session.roles.includes(role));
  }

  /** Whether the session's last authentication is within `windowMs` (`SessionService`'s rule). */
  protected isRecentlyAuthenticated(session: Session, windowMs: number): boolean {
    return this.sessions.isRecentlyAuthenticated(session, windowMs);
  }

  /**
   * Who sent a microservice message, as its transport authenticated them; the issuer of its
   * session assertion must be them (`SessionAssertions.verify`). Default: the common name of a
   * TLS connection's verified client certificate (null without one), undefined for a transport
   * that names no sender. Override it for a transport that authenticates otherwise, or whose
   * certificates name services differently from their assertions.
   */
  protected getPeer(context: ExecutionContext): string | null | undefined {
    return messagePeerOf(context);
  }

  protected unauthorized(): UnauthorizedException {
    return new UnauthorizedException('Authentication required');
  }

  /**
   * Tells a socket that its message was dropped while its session lives on: an `exception`
   * frame, since Nest's default WebSocket exception filter does not write to `ws` sockets.
   */
  protected refuseMessage(client: SessionSocket, refusal: SocketRefusal, pattern: string): void {
    if (client.readyState === SOCKET_OPEN) {
      client.send(JSON.stringify({ event: 'exception', data: { ...refusal, pattern } }));
    }
  }

  /**
   * What a refused microservice message answers (`send`) or logs (`emit`): an RPC error
   * `{ status, error, message }` — 401 `unauthenticated` (no, bad or dead session assertion),
   * 403 `forbidden` (missing role), 401 `reauthentication_required`, 503
   * `session_store_unavailable`.
   */
  protected refuseRpc(status: 401 | 403 | 503, error: string, message: string): Error {
    // A message reached the guard, so `@nestjs/microservices` is installed.
    const RpcException = rpcExceptionClass();
    return RpcException ? new RpcException({ status, error, message }) : new Error(message);
  }

  /**
   * `validatedOn` is what one validation serves: the request itself, or a GraphQL operation's
   * context object (all the resolvers of one operation; a subscription's upgrade request
   * carries every operation of its connection, each of which is validated on its own).
   * `settle` gives the session to attach, from the one validated and when its validation began.
   */
  private async activateRequest(
    request: GuardedRequest,
    rule: RouteRule,
    validatedOn: object = request,
    settle?: Settle,
  ): Promise<boolean> {
    const found = this.getToken(request);
    if (!found) {
      throw this.unauthorized();
    }
    if (found.source === 'cookie' && !this.originPolicy.allows(request)) {
      throw new ForbiddenException('Cross-origin request refused');
    }
    const validation = this.validateOnce(validatedOn, found.token);
    const session = await validation.session;
    if (!session) {
      throw this.unauthorized();
    }
    return this.admit(request, found, settle ? settle(session, validation.since) : session, rule);
  }

  /**
   * A server-sent events route: the rules on its request, then its response held by
   * `SessionSockets`, which ends the stream when the session ends or loses the route's roles
   * (validated by the store, not the local cache: the stream outlives any cached answer).
   */
  private async activateStream(
    context: ExecutionContext,
    request: GuardedRequest,
    rule: RouteRule,
    sockets: SessionSockets,
  ): Promise<boolean> {
    const since = performance.now();
    await this.activateRequest(request, rule);
    const response = context.switchToHttp().getResponse<ServerResponse | { raw: ServerResponse }>();
    const held = sockets.holdStream(
      'raw' in response ? response.raw : response,
      request,
      rule.roles,
      since,
    );
    if (held === 'ended') {
      throw this.unauthorized();
    }
    if (held === 'forbidden') {
      throw new ForbiddenException('Missing role');
    }
    if (held === 'too-many') {
      throw new HttpException('Too many event streams', HttpStatus.TOO_MANY_REQUESTS);
    }
    return true;
  }

  /**
   * A GraphQL resolver: the rules on its operation's request. On a connection `SessionSockets`
   * holds, whose upgrade request every operation shares (and the running subscriptions' filters
   * read the session there), the session attached and checked is the one `settle` gives: an
   * operation validated before a role change, its answer arriving after, neither passes with
   * nor puts back the old roles. A subscription is also registered with it, so that the
   * connection is closed (4403) when its session no longer has any of the subscription's roles.
   */
  private async activateOperation(context: ExecutionContext, rule: RouteRule): Promise<boolean> {
    const request = this.getGraphqlRequest(context);
    if (!request) {
      throw this.unauthorized();
    }
    const operation = context.getArgByIndex<object | undefined>(2);
    const sockets = this.sockets;
    if (!sockets) {
      return this.activateRequest(request, rule, operation ?? request);
    }
    // When the operation's validation began: the resolvers of one operation share it
    // (`validateOnce`), so one that runs later is no fresher than that.
    let since = performance.now();
    await this.activateRequest(request, rule, operation ?? request, (session, validatedAt) => {
      since = validatedAt;
      return sockets.settle(request, session, validatedAt);
    });
    if (isSubscription(context)) {
      sockets.holdRoles(request, rule.roles ?? [], since);
    }
    return true;
  }

  /**
   * `activateRequest` for a session the local cache holds: true, or a refusal thrown, without
   * a promise. Undefined (the store must be asked, or the refusal comes from
   * `activateRequest`) when there is no cache, no token, a cookie from a foreign origin, a
   * cache miss, or a `validate` hook of a subclass's (a hit must not skip it).
   */
  private activateCached(request: GuardedRequest, rule: RouteRule): true | undefined {
    if (!this.sessions.caching || this.validate !== SessionGuard.prototype.validate) {
      return undefined;
    }
    const found = this.getToken(request);
    if (!found || (found.source === 'cookie' && !this.originPolicy.allows(request))) {
      return undefined;
    }
    const session = this.sessions.cached(found.token);
    return session ? this.admit(request, found, session, rule) : undefined;
  }

  /** Attaches a live session to its request, then checks the route's roles and recent-auth rule. */
  private admit(
    request: GuardedRequest,
    found: RequestToken,
    session: Session,
    rule: RouteRule,
  ): true {
    request[REQUEST_SESSION_PROPERTY] = session;
    request[REQUEST_TOKEN_PROPERTY] = found;
    if (rule.roles?.length && !this.hasRole(session, rule.roles)) {
      throw new ForbiddenException('Missing role');
    }
    if (
      rule.recentAuthMs !== undefined &&
      !this.isRecentlyAuthenticated(session, rule.recentAuthMs)
    ) {
      throw new ReauthenticationRequiredException();
    }
    return true;
  }

  private validateOnce(request: object, token: string): Validation {
    // A property of the request rather than a WeakMap entry: a WeakMap keyed by short-lived
    // requests costs the young-generation GC an ephemeron per request.
    const carrier = request as { [VALIDATED]?: Validation };
    const known = carrier[VALIDATED];
    if (known?.token === token) {
      return known;
    }
    const since = performance.now();
    const validation = { token, session: this.validate(token), since };
    carrier[VALIDATED] = validation;
    return validation;
  }

  private async activateMessage(
    client: SessionSocket,
    rule: RouteRule,
    pattern: string,
  ): Promise<boolean> {
    if (!this.sockets) {
      return this.messageRefused('401');
    }
    let session: Session | null;
    try {
      session = await this.sockets.revalidate(client);
    } catch (error) {
      if (!(error instanceof SessionStoreUnavailableError)) {
        throw error;
      }
      this.refuseMessage(client, { status: 503, message: 'Session store unavailable' }, pattern);
      return this.messageRefused('503');
    }
    if (!session) {
      return this.messageRefused('401');
    }
    if (rule.roles?.length && !this.hasRole(session, rule.roles)) {
      this.refuseMessage(client, { status: 403, message: 'Missing role' }, pattern);
      return this.messageRefused('403');
    }
    if (
      rule.recentAuthMs !== undefined &&
      !this.isRecentlyAuthenticated(session, rule.recentAuthMs)
    ) {
      const { message, error } = new ReauthenticationRequiredException().getResponse() as {
        message: string;
        error: string;
      };
      this.refuseMessage(client, { status: 401, message, error }, pattern);
      return this.messageRefused('401');
    }
    return true;
  }

  /** Counts a WebSocket message refused in place, with the status its frame or close said. */
  private messageRefused(outcome: SessionGuardOutcome): false {
    this.metrics?.guardOutcome(outcome, 'ws');
    return false;
  }

  /**
   * A microservice message acts for the session its assertion names (`SessionClient` adds
   * one): verified against the trusted keys and, every time, the store. The assertion is
   * taken out of the payload, so the handler and its validation pipe see the payload sent.
   */
  private async activateRpc(context: ExecutionContext, rule: RouteRule): Promise<boolean> {
    try {
      return await this.activateMessageHandler(context, rule);
    } catch (error) {
      if (this.reflector.get(PATTERN_HANDLER_METADATA, context.getHandler()) === EVENT_HANDLER) {
        this.reportRefusedEvent(context, error);
      }
      throw error;
    }
  }

  /**
   * An event (`@EventPattern`) has no answer to carry its refusal: Nest drops the error
   * unseen, so the refusal (a forgery, a revoked session) is logged here instead, once per
   * handler, reason and minute.
   */
  private reportRefusedEvent(context: ExecutionContext, error: unknown): void {
    const refusal = (error as { getError?: () => unknown }).getError?.();
    const message =
      (refusal as { message?: unknown } | undefined)?.message ?? (error as Error).message;
    const key = `${context.getClass().name}.${context.getHandler().name}\n${String(message)}`;
    this.refusedEvents.warn(key, `Refused an event for ${key.replace('\n', ': ')}`);
  }

  private async activateMessageHandler(
    context: ExecutionContext,
    rule: RouteRule,
  ): Promise<boolean> {
    const data = context.switchToRpc().getData<unknown>();
    const assertion = takeAssertion(context);
    if (!this.assertions?.accepting) {
      throw this.refuseRpc(401, 'unauthenticated', 'This service accepts no session assertion');
    }
    let session: Session;
    try {
      session = await this.verifyOnce(this.assertions, data, assertion, this.getPeer(context));
    } catch (error) {
      if (error instanceof SessionAssertionRefusedError) {
        throw this.refuseRpc(401, 'unauthenticated', error.message);
      }
      if (error instanceof SessionStoreUnavailableError) {
        throw this.refuseRpc(503, 'session_store_unavailable', 'Session store unavailable');
      }
      throw error;
    }
    const carrier = rpcCarrierOf(context);
    if (carrier) {
      carrier[REQUEST_SESSION_PROPERTY] = session;
    }
    if (rule.roles?.length && !this.hasRole(session, rule.roles)) {
      throw this.refuseRpc(403, 'forbidden', 'Missing role');
    }
    if (
      rule.recentAuthMs !== undefined &&
      !this.isRecentlyAuthenticated(session, rule.recentAuthMs)
    ) {
      const { message } = new ReauthenticationRequiredException().getResponse() as {
        message: string;
      };
      throw this.refuseRpc(401, 'reauthentication_required', message);
    }
    return true;
  }

  private verifyOnce(
    assertions: SessionAssertions,
    data: unknown,
    assertion: unknown,
    peer: string | null | undefined,
  ): Promise<Session> {
    const carrier = typeof data === 'object' && data !== null ? data : undefined;
    const known = carrier && assertion === undefined ? VERIFIED.get(carrier) : undefined;
    if (known) {
      return known;
    }
    const verified = assertions.verify(assertion, peer);
    if (carrier) {
      VERIFIED.set(carrier, verified);
      // Handled where it is awaited; this keeps a copy nobody awaits from being unhandled.
      verified.catch(() => undefined);
    }
    return verified;
  }

  /**
   * `@Public()` decides for the closest level that says anything — the handler, else its
   * controller — and a requirement (`@Roles`, `@RequireRecentAuth`) at that level wins over it:
   * a public controller cannot open a handler that asks for a role.
   */
  private isPublic(handler: object, controller: object): boolean {
    for (const target of [handler, controller] as Array<() => unknown>) {
      const restricted =
        this.reflector.get(Roles, target) !== undefined ||
        this.reflector.get(RequireRecentAuth, target) !== undefined;
      if (restricted) {
        return false;
      }
      const marked = this.reflector.get<boolean | undefined>(IS_PUBLIC_KEY, target);
      if (marked !== undefined) {
        return marked === true;
      }
    }
    return false;
  }

  private ruleFor(context: ExecutionContext): RouteRule {
    const handler = context.getHandler();
    const controller = context.getClass();
    let byController = this.rules.get(handler);
    let rule = byController?.get(controller);
    if (!rule) {
      const targets = [handler, controller];
      const recentAuth = this.reflector.getAllAndOverride<RecentAuthRule | undefined>(
        RequireRecentAuth,
        targets,
      );
      rule = {
        isPublic: this.isPublic(handler, controller),
        roles: this.reflector.getAllAndOverride(Roles, targets),
        recentAuthMs: recentAuth && recentAuthWindowMs(recentAuth, this.config.reauthWindowMs),
        stream: this.reflector.get<boolean | undefined>(SSE_METADATA, handler) === true,
      };
      byController ??= new WeakMap();
      byController.set(controller, rule);
      this.rules.set(handler, byController);
    }
    return rule;
  }
}

/**
 * The session assertion a microservice message carries, taken out of its payload so that
 * neither the handler nor its validation pipe sees it; undefined when it carries none.
 */
function takeAssertion(context: ExecutionContext): unknown {
  const data = context.switchToRpc().getData<Record<string, unknown> | undefined>();
  if (typeof data !== 'object' || data === null || !Object.hasOwn(data, SESSION_ASSERTION_FIELD)) {
    return undefined;
  }
  const assertion = data[SESSION_ASSERTION_FIELD];
  delete data[SESSION_ASSERTION_FIELD];
  return assertion;
}

/**
 * A route's recent-auth window in ms: its own, else the module's. Not rounded: a window under
 * half a millisecond rounded to 0 would read as "none of its own" and get the module's minutes.
 */
function recentAuthWindowMs(rule: RecentAuthRule, moduleWindowMs: number): number {
  return rule.seconds === undefined ? moduleWindowMs : rule.seconds * 1000;
}

/** Whether a GraphQL resolver runs for a subscription (its `info.operation`). */
function isSubscription(context: ExecutionContext): boolean {
  const info = context.getArgByIndex<{ operation?: { operation?: unknown } } | undefined>(3);
  return info?.operation?.operation === 'subscription';
}

/**
 * Marks the answer of a guarded HTTP route `Cache-Control: no-store`, its refusals (401, 403,
 * 503) included: it depends on the session, and a shared cache must neither keep nor serve it.
 * A policy the app set before the guard is kept; one the route sets later (`@Header()`,
 * `reply.header()`) replaces this one. Express's response, or Fastify's reply through `raw`
 * (whose own headers, written with `writeHead`, win over the raw response's); anything else
 * (no Node response) is left alone.
 */
function forbidCaching(response: unknown): void {
  const raw = (response as { raw?: ServerResponse } | undefined)?.raw ?? response;
  const node = raw as Partial<ServerResponse> | undefined;
  if (
    typeof node?.setHeader === 'function' &&
    !node.headersSent &&
    !node.hasHeader?.('cache-control')
  ) {
    node.setHeader('Cache-Control', 'no-store');
  }
}

/** The outcome a refusal is counted as. */
function outcomeOf(error: unknown): SessionGuardOutcome {
  if (error instanceof SessionStoreUnavailableError) return '503';
  if (error instanceof UnauthorizedException) return '401';
  if (error instanceof ForbiddenException) return '403';
  const RpcException = rpcExceptionClass();
  if (RpcException && error instanceof RpcException) {
    const status = (error.getError() as { status?: unknown } | null)?.status;
    if (status === 401 || status === 403 || status === 503) return `${status}`;
  }
  return 'error';
}
