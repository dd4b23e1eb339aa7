import {
  CanActivate,
  ExecutionContext,
  ForbiddenException,
  Inject,
  Injectable,
  ServiceUnavailableException,
  UnauthorizedException,
} from '@nestjs/common';
import { Reflector } from '@nestjs/core';

import { OriginCheckedRequest, OriginPolicy } from './origin-policy';
import { IS_PUBLIC_KEY } from './public.decorator';
import { Roles } from './roles.decorator';
import { SessionCookieService } from './session-cookie.service';
import { SessionStoreUnavailableError } from './session-store-unavailable.error';
import { REQUEST_SESSION_PROPERTY } from './session.constants';
import { SessionService } from './session.service';
import { Session } from './session.types';

const BEARER = /^bearer /i;

/** Where the token of a request came from: cookies get the CSRF rule, bearer tokens do not. */
export type TokenSource = 'cookie' | 'bearer';

/** A route's access rule, read once per handler from its metadata. */
export interface RouteRule {
  isPublic: boolean;
  roles: string[] | undefined;
}

type GuardedRequest = OriginCheckedRequest & { [REQUEST_SESSION_PROPERTY]?: Session };

/**
 * Default-deny guard: a route needs a live session unless marked `@Public()`, and one of its
 * `@Roles()` if it has any. Works on Express and Fastify. Extend it by overriding the
 * protected hooks.
 *
 * Answers: no or bad session 401; missing role 403; cookie-authenticated unsafe request from
 * a foreign origin 403; session store down or slow 503.
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
    if (rule.roles?.length && !this.hasRole(session, rule.roles)) {
      throw new ForbiddenException('Missing role');
    }
    return true;
  }

  /** True lets the request through without a session. Default: `@Public()` routes. */
  protected shouldSkip(_context: ExecutionContext, rule: RouteRule): boolean {
    return rule.isPublic;
  }

  /** The token and where it came from: the session cookie first, then a bearer header. */
  protected getToken(request: OriginCheckedRequest): { token: string; source: TokenSource } | null {
    const cookie = this.cookies.read(request.headers['cookie'] as string | undefined);
    if (cookie) {
      return { token: cookie, source: 'cookie' };
    }
    const authorization = request.headers['authorization'];
    // The auth scheme is case-insensitive (RFC 9110): `bearer` and `BEARER` count too.
    if (typeof authorization === 'string' && BEARER.test(authorization)) {
      return { token: authorization.slice(7).trim(), source: 'bearer' };
    }
    return null;
  }

  /** Validates a token; a store failure becomes 503, never a pass and never a 500. */
  protected async validate(token: string): Promise<Session | null> {
    try {
      return await this.sessions.validate(token);
    } catch (error) {
      if (error instanceof SessionStoreUnavailableError) {
        throw new ServiceUnavailableException('Session store unavailable');
      }
      throw error;
    }
  }

  /** Any-of role check. */
  protected hasRole(session: Session, required: string[]): boolean {
    return required.some((role) => session.roles.includes(role));
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
      rule = {
        isPublic: this.reflector.getAllAndOverride<boolean>(IS_PUBLIC_KEY, targets) === true,
        roles: this.reflector.getAllAndOverride(Roles, targets),
      };
      byController ??= new WeakMap();
      byController.set(controller, rule);
      this.rules.set(handler, byController);
    }
    return rule;
  }
}
