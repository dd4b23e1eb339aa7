import {
  Body,
  Controller,
  ForbiddenException,
  Get,
  HttpCode,
  HttpStatus,
  Inject,
  Post,
  Req,
  Res,
  UseFilters,
  UseGuards,
} from '@nestjs/common';
import {
  ApiBadRequestResponse,
  ApiBearerAuth,
  ApiBody,
  ApiConflictResponse,
  ApiCookieAuth,
  ApiForbiddenResponse,
  ApiNoContentResponse,
  ApiOkResponse,
  ApiTags,
  ApiTooManyRequestsResponse,
  ApiUnauthorizedResponse,
} from '@nestjs/swagger';

import {
  CurrentSession,
  IssuedSession,
  OriginPolicy,
  Public,
  readSessionTokens,
  REQUEST_TOKEN_PROPERTY,
  RequestToken,
  Session,
  SessionCookieService,
  SessionRequest,
  SessionService,
} from '@cloakroom/session';

import type { HttpRequest, HttpResponse } from '../common/http.types';
import { AuthService, VerifiedLogin } from './auth.service';
import { clientInfo } from './client-ip';
import { DeviceLabelService } from './device-label.service';
import { DeviceTokenService } from './device-token.service';
import { AuthResponseDto } from './dto/auth-response.dto';
import { ChangePasswordDto } from './dto/change-password.dto';
import { LoginDto, LoginTransport } from './dto/login.dto';
import { ReauthenticateDto } from './dto/reauthenticate.dto';
import { LocalAuthGuard } from './local-auth.guard';
import { clearClientState, refuseTooManyTokens, sentByBrowser } from './presented-tokens';
import { SessionLimitFilter } from './session-limit.filter';

@ApiTags('auth')
@Controller()
export class AuthController {
  constructor(
    private readonly auth: AuthService,
    private readonly sessions: SessionService,
    private readonly cookies: SessionCookieService,
    private readonly devices: DeviceLabelService,
    private readonly deviceTokens: DeviceTokenService,
    @Inject(OriginPolicy) private readonly originPolicy: OriginPolicy,
  ) {}

  @Public()
  @UseGuards(LocalAuthGuard)
  @UseFilters(SessionLimitFilter)
  @Post('login')
  @HttpCode(HttpStatus.OK)
  @ApiBody({ type: LoginDto })
  @ApiOkResponse({
    type: AuthResponseDto,
    description:
      'Cookie mode also sets the session cookie and the device cookie; bearer mode answers ' +
      'the device token as `deviceToken`, to send back as `X-Device-Token` at later logins, ' +
      'and expires a session cookie the request carried (its session is revoked)',
  })
  @ApiUnauthorizedResponse({ description: 'Unknown user or wrong password (same answer)' })
  @ApiForbiddenResponse({ description: 'Cross-origin login refused' })
  @ApiBadRequestResponse({
    description: 'A bad body, or more session tokens than a browser holds (cookies cleared)',
  })
  @ApiConflictResponse({
    description:
      'SESSION_CAP_POLICY=refuse and the user is at the cap: `sessions` lists theirs ' +
      '(id, createdAt, lastSeenAt, device); log in again with `replaceSession`',
  })
  @ApiTooManyRequestsResponse({
    description:
      'Too many failures, or too many password checks under way from this network or for this ' +
      'account; see Retry-After',
  })
  async login(
    @Req() request: HttpRequest,
    @Res({ passthrough: true }) response: HttpResponse,
    @Body() body: LoginDto,
  ): Promise<AuthResponseDto> {
    // A public route: no guard read the tokens, and every one the client holds is revoked.
    // LocalAuthGuard refused too many before the password; checked again where they are used.
    const held = readSessionTokens(request.headers, this.cookies.name);
    refuseTooManyTokens(held, response, this.cookies);
    const { user, deviceToken } = request.user as VerifiedLogin;
    const issued = await this.auth.login(user, this.clientOf(request), {
      heldTokens: held.map(({ token }) => token),
      rememberMe: body.rememberMe,
      replaceSession: body.replaceSession,
    });
    const transport = body.transport ?? 'cookie';
    const answer = this.deliver(response, issued, transport, deviceToken);
    if (transport === 'bearer' && held.some(({ source }) => source === 'cookie')) {
      // The cookie's session was just revoked, but a browser would go on sending the cookie
      // next to the new bearer token: two different tokens, every request a 401, and no script
      // can drop an HttpOnly cookie. Only the cookie goes: Clear-Site-Data would also wipe the
      // storage a client may keep its new token in.
      response.setHeader('Set-Cookie', this.cookies.clear());
    }
    return answer;
  }

  /**
   * Always 204 with the cookie cleared and `Clear-Site-Data`, even when the session is
   * already dead or absent: the client ends up logged out whatever it held. Public, so that a
   * dead session is not a 401; the tokens it carries are read here, and a cookie-carrying
   * request, or a browser's without a bearer token, gets the CSRF rule of every
   * cookie-authenticated write (a foreign page must not log the user out). Each live session presented is revoked everywhere at once, and so is
   * the session a dead token was rotated to moments ago (a re-authentication or password
   * change racing the logout): a logout answered 204 leaves no session of it behind. More
   * tokens than a browser holds are a 400 with the same clearing headers, and no store call.
   */
  @Public()
  @Post('logout')
  @HttpCode(HttpStatus.NO_CONTENT)
  @ApiCookieAuth()
  @ApiBearerAuth()
  @ApiNoContentResponse({ description: 'Session revoked if live; cookie and site data cleared' })
  @ApiForbiddenResponse({ description: 'A browser logout (no bearer token) from a foreign origin' })
  @ApiBadRequestResponse({
    description: 'More session tokens than a browser holds: nothing revoked, cookies cleared',
  })
  async logout(
    @Req() request: HttpRequest,
    @Res({ passthrough: true }) response: HttpResponse,
  ): Promise<void> {
    const presented = readSessionTokens(request.headers, this.cookies.name);
    // A browser's logout is a cookie logout even when the cookie did not come along: a
    // cross-site form post carries no SameSite cookie, yet the cookie-clearing answer would
    // log the user out. Only a bearer token, which no foreign page can send, exempts it.
    const ofCookie =
      presented.some(({ source }) => source === 'cookie') ||
      (sentByBrowser(request.headers) && !presented.some(({ source }) => source === 'bearer'));
    if (ofCookie && !this.originPolicy.allows(request)) {
      throw new ForbiddenException('Cross-origin request refused');
    }
    refuseTooManyTokens(presented, response, this.cookies);
    for (const { token } of presented) {
      const session = await this.sessions.validate(token);
      if (session) {
        await this.auth.logout(session);
      } else {
        await this.auth.logoutRotated(token);
      }
    }
    // Only once the sessions are revoked: if the store is down (503), the client keeps the
    // cookie and can log out again, instead of forgetting a session that stays live.
    clearClientState(response, this.cookies);
  }

  @Get('session')
  @ApiCookieAuth()
  @ApiBearerAuth()
  @ApiOkResponse({ type: AuthResponseDto })
  current(@CurrentSession() session: Session): AuthResponseDto {
    return AuthResponseDto.from(session);
  }

  /**
   * Step-up before sensitive actions: the password again refreshes the session's
   * `authenticatedAt` and rotates its token (a new cookie, or a new token in the body, as the
   * old one came), keeping its deadlines. Throttled like a login.
   */
  @Post('reauthenticate')
  @HttpCode(HttpStatus.OK)
  @ApiCookieAuth()
  @ApiBearerAuth()
  @ApiOkResponse({
    type: AuthResponseDto,
    description:
      'The session is rotated: a new cookie, or a new token in the body (both when the token ' +
      'came both as the cookie and as a bearer token)',
  })
  @ApiUnauthorizedResponse({ description: 'Wrong password (the login answer), or no session' })
  @ApiTooManyRequestsResponse({
    description:
      'Too many failures, or too many password checks under way from this network or for this ' +
      'account; see Retry-After',
  })
  async reauthenticate(
    @CurrentSession() session: Session,
    @Req() request: HttpRequest & SessionRequest,
    @Res({ passthrough: true }) response: HttpResponse,
    @Body() body: ReauthenticateDto,
  ): Promise<AuthResponseDto> {
    const presented = validatedToken(request);
    const issued = await this.auth.reauthenticate(
      session,
      presented.token,
      body.password,
      this.clientOf(request),
    );
    return this.deliverRotated(request, response, issued, presented.source);
  }

  @Post('password')
  @HttpCode(HttpStatus.OK)
  @ApiCookieAuth()
  @ApiBearerAuth()
  @ApiOkResponse({
    type: AuthResponseDto,
    description:
      'The session is rotated: a new cookie, or a new token in the body (both when the token ' +
      'came both ways); a device token of the ' +
      'new password goes with it (the device cookie, or `deviceToken`), earlier ones no longer count',
  })
  @ApiBadRequestResponse({ description: 'The new password is refused, with the reason' })
  @ApiForbiddenResponse({ description: 'Current password is incorrect' })
  async changePassword(
    @CurrentSession() session: Session,
    @Req() request: HttpRequest & SessionRequest,
    @Res({ passthrough: true }) response: HttpResponse,
    @Body() body: ChangePasswordDto,
  ): Promise<AuthResponseDto> {
    const presented = validatedToken(request);
    const issued = await this.auth.changePassword(
      session,
      presented.token,
      body,
      this.clientOf(request),
    );
    return this.deliverRotated(request, response, issued, presented.source, issued.deviceToken);
  }

  private clientOf(request: HttpRequest) {
    return clientInfo(request, this.devices, this.deviceTokens);
  }

  /**
   * Hands a rotated session's token over the way the old one came. A request may carry it both
   * as the cookie and as a bearer token (the guard admits the pair only when they are one
   * token): that client keeps a copy in each place, and both get the new token. Given only the
   * cookie, its bearer copy would be dead next to a live cookie, two different tokens, a 401
   * on every request until a new login; the script that sent the bearer token held the old
   * one, so the body gives it nothing it did not have.
   */
  private deliverRotated(
    request: HttpRequest,
    response: HttpResponse,
    issued: IssuedSession,
    source: LoginTransport,
    deviceToken?: string,
  ): AuthResponseDto {
    const answer = this.deliver(response, issued, source, deviceToken);
    const alsoBearer =
      source === 'cookie' &&
      readSessionTokens(request.headers, this.cookies.name).some(
        (presented) => presented.source === 'bearer',
      );
    return alsoBearer ? AuthResponseDto.from(issued.session, issued.token, deviceToken) : answer;
  }

  /**
   * Hands the token over: in an HttpOnly cookie, or in the body and never in a cookie. The
   * cookie of a "remember me" session lasts until its absolute deadline; any other is a
   * browser-session cookie, dropped when the browser closes. A login's or a password change's
   * device token goes the same way, in a cookie of its own or as `deviceToken` in the body.
   */
  private deliver(
    response: HttpResponse,
    { token, session }: IssuedSession,
    transport: LoginTransport,
    deviceToken?: string,
  ): AuthResponseDto {
    response.setHeader('Cache-Control', 'no-store');
    if (transport === 'bearer') {
      return AuthResponseDto.from(session, token, deviceToken);
    }
    const expiresAt = session.persistent ? session.absoluteExpiresAt : undefined;
    const sessionCookie = this.cookies.serialize(token, expiresAt);
    response.setHeader(
      'Set-Cookie',
      deviceToken ? [sessionCookie, this.deviceTokens.cookie(deviceToken)] : sessionCookie,
    );
    return AuthResponseDto.from(session);
  }
}

/** The token SessionGuard validated for this request: the one a rotation replaces. */
function validatedToken(request: SessionRequest): RequestToken {
  const presented = request[REQUEST_TOKEN_PROPERTY];
  if (!presented) {
    throw new Error('SessionGuard did not run on a route that needs a session');
  }
  return presented;
}
