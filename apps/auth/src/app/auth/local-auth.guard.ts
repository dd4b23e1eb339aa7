import { ExecutionContext, ForbiddenException, Inject, Injectable } from '@nestjs/common';
import { AuthGuard } from '@nestjs/passport';

import { StrictValidationPipe } from '@cloakroom/service-kit';
import { OriginPolicy, readSessionTokens, SessionCookieService } from '@cloakroom/session';

import type { HttpRequest, HttpResponse } from '../common/http.types';
import { LoginDto } from './dto/login.dto';
import { refuseTooManyTokens, sentByBrowser } from './presented-tokens';

/**
 * Runs before the password is checked: the body is validated first (guards run before pipes,
 * and a bad body must answer 400, not 401), then the login CSRF rule, then the count of
 * session tokens the login would revoke (a 400 past `MAX_PRESENTED_TOKENS`, before the
 * throttle or the hash is paid for), then passport-local.
 */
@Injectable()
export class LocalAuthGuard extends AuthGuard('local') {
  private readonly validation = new StrictValidationPipe();

  constructor(
    @Inject(OriginPolicy) private readonly originPolicy: OriginPolicy,
    private readonly cookies: SessionCookieService,
  ) {
    super();
  }

  override async canActivate(context: ExecutionContext): Promise<boolean> {
    const request = context.switchToHttp().getRequest<HttpRequest>();
    const body: LoginDto = await this.validation.transform(request.body ?? {}, {
      type: 'body',
      metatype: LoginDto,
    });
    request.body = body;
    if (!this.originAllowed(request, body)) {
      throw new ForbiddenException('Cross-origin request refused');
    }
    refuseTooManyTokens(
      readSessionTokens(request.headers, this.cookies.name),
      context.switchToHttp().getResponse<HttpResponse>(),
      this.cookies,
    );
    return (await super.canActivate(context)) as boolean;
  }

  /**
   * Login CSRF: a foreign page must not log the victim into the attacker's account. A cookie
   * login follows the origin rule of every cookie-authenticated write. A bearer login sets no
   * cookie, so a client that is not a browser (no `Origin`, no `Sec-Fetch-Site`) may send it;
   * a browser still has to come from an allowed origin.
   */
  private originAllowed(request: HttpRequest, body: LoginDto): boolean {
    if (body.transport === 'bearer' && !sentByBrowser(request.headers)) {
      return true;
    }
    return this.originPolicy.allows(request);
  }
}
