import {
  CanActivate,
  ExecutionContext,
  ForbiddenException,
  Inject,
  Injectable,
  UnauthorizedException,
} from '@nestjs/common';
import { Reflector } from '@nestjs/core';

import type { SessionConfig } from '../config/session.config';
import {
  REQUEST_SESSION_PROPERTY,
  REQUEST_TOKEN_PROPERTY,
  SESSION_CONFIG,
} from '../session.constants';
import { SessionService } from '../session.service';
import type { Session } from '../session.types';
import { OriginCheckedRequest, OriginPolicy } from './origin.policy';
import { IS_PUBLIC_KEY } from './public.decorator';
import { ReauthenticationRequiredException } from './reauthentication-required.exception';
import { readSessionTokens, RequestToken } from './request-token.reader';
import { RecentAuthRule, RequireRecentAuth } from './require-recent-auth.decorator';
import { Roles } from './roles.decorator';
import { SessionCookieService } from './session-cookie.service';
import type { SessionRequest } from './session-request.interface';

/** A route's access rule, read once per handler from its metadata. */
export interface RouteRule {
  isPublic: boolean;
  roles: string[] | undefined;
  /**
   * `@RequireRecentAuth()`: how recent (ms) the session's `authenticatedAt` must be; undefined
   * when the route does not ask.
   */
  recentAuthMs: number | undefined;
}

type GuardedRequest = OriginCheckedRequest & SessionRequest;

/**
 * Default-deny guard: a route needs a live session unless marked `@Public()`, and one of its
 * `@Roles()` if it has any, and an authentication within its window if it is marked
 * `@RequireRecentAuth()`. Works on Express and Fastify. On success it attaches the session
 * and the token it came with to the request (`SessionRequest`). Extend it by overriding the
 * protected hooks.
 *
 * Answers: no or bad session 401; missing role 403; cookie-authenticated unsafe request from
 * a foreign origin 403; authentication not recent enough 401 `reauthentication_required`;
 * session store down or slow 503 (`SessionStoreUnavailableError`).
 *
 * @example
 * providers: [{ provide: APP_GUARD, useClass: SessionGuard }]
 */
@Injectable()
export class SessionGuard implements CanActivate {
  private readonly rules = new WeakMap<object, WeakMap<object, RouteRule>>();

  constructor(
    protected readonly sessions: SessionService,
    protected readonly reflector: Reflector,
    protected readonly cookies: SessionCookieService,
    @Inject(OriginPolicy) protected readonly originPolicy: OriginPolicy,
    @Inject(SESSION_CONFIG) protected readonly config: SessionConfig,
  ) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const rule = this.ruleFor(context);
    if (this.shouldSkip(context, rule)) {
      return true;
    }
    if (context.getType() !== 'http') {
      return false;
    }
    const request = context.switchToHttp().getRequest<GuardedRequest>();
    const found = this.getToken(request);
    if (!found) {
      throw this.unauthorized();
    }
    if (found.source === 'cookie' && !this.originPolicy.allows(request)) {
      throw new ForbiddenException('Cross-origin request refused');
    }
    const session = await this.validate(found.token);
    if (!session) {
      throw this.unauthorized();
    }
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

  /** True lets the request through without a session. Default: `@Public()` routes. */
  protected shouldSkip(_context: ExecutionContext, rule: RouteRule): boolean {
    return rule.isPublic;
  }

  /** The token to validate and where it came from: the first `readSessionTokens` finds. */
  protected getToken(request: OriginCheckedRequest): RequestToken | null {
    return readSessionTokens(request.headers, this.cookies.name)[0] ?? null;
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

  /**
   * Whether the session's last authentication is within `windowMs`, by this process's clock
   * against the Redis clock that stamped it. A session without `authenticatedAt` (a remote
   * answer that left it out) never is.
   */
  protected isRecentlyAuthenticated(session: Session, windowMs: number): boolean {
    const at = session.authenticatedAt;
    return typeof at === 'number' && Date.now() - at <= windowMs;
  }

  protected unauthorized(): UnauthorizedException {
    return new UnauthorizedException('Authentication required');
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
        isPublic: this.reflector.getAllAndOverride<boolean>(IS_PUBLIC_KEY, targets) === true,
        roles: this.reflector.getAllAndOverride(Roles, targets),
        recentAuthMs: recentAuth
          ? Math.round((recentAuth.seconds ?? 0) * 1000) || this.config.reauthWindowMs
          : undefined,
      };
      byController ??= new WeakMap();
      byController.set(controller, rule);
      this.rules.set(handler, byController);
    }
    return rule;
  }
}
