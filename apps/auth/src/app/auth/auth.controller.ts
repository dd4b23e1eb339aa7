import {
  Body,
  Controller,
  Get,
  HttpCode,
  HttpStatus,
  Post,
  Req,
  Res,
  UseGuards,
} from '@nestjs/common';
import {
  ApiBearerAuth,
  ApiBody,
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
  Public,
  readSessionTokens,
  REQUEST_TOKEN_PROPERTY,
  Session,
  SessionCookieService,
  SessionRequest,
} from '@cloakroom/session';

import type { HttpRequest, HttpResponse } from '../common/http.types';
import { User } from '../users/entities/user.entity';
import { AuthService } from './auth.service';
import { clientIp } from './client-ip';
import { AuthResponseDto } from './dto/auth-response.dto';
import { ChangePasswordDto } from './dto/change-password.dto';
import { LoginDto, LoginTransport } from './dto/login.dto';
import { LocalAuthGuard } from './local-auth.guard';

@ApiTags('auth')
@Controller()
export class AuthController {
  constructor(
    private readonly auth: AuthService,
    private readonly cookies: SessionCookieService,
  ) {}

  @Public()
  @UseGuards(LocalAuthGuard)
  @Post('login')
  @HttpCode(HttpStatus.OK)
  @ApiBody({ type: LoginDto })
  @ApiOkResponse({ type: AuthResponseDto, description: 'Cookie mode also sets the cookie' })
  @ApiUnauthorizedResponse({ description: 'Unknown user or wrong password (same answer)' })
  @ApiForbiddenResponse({ description: 'Cross-origin login refused' })
  @ApiTooManyRequestsResponse({ description: 'Too many failures; see Retry-After' })
  async login(
    @Req() request: HttpRequest,
    @Res({ passthrough: true }) response: HttpResponse,
    @Body() body: LoginDto,
  ): Promise<AuthResponseDto> {
    const issued = await this.auth.login(
      request.user as User,
      { ip: clientIp(request), userAgent: request.headers['user-agent'] },
      // A public route: no guard read the tokens, and every one the client holds is revoked.
      readSessionTokens(request.headers, this.cookies.name).map(({ token }) => token),
    );
    return this.deliver(response, issued, body.transport ?? 'cookie');
  }

  @Post('logout')
  @HttpCode(HttpStatus.NO_CONTENT)
  @ApiCookieAuth()
  @ApiBearerAuth()
  @ApiNoContentResponse({ description: 'Session revoked, cookie cleared' })
  async logout(
    @CurrentSession() session: Session,
    @Res({ passthrough: true }) response: HttpResponse,
  ): Promise<void> {
    await this.auth.logout(session);
    response.setHeader('Set-Cookie', this.cookies.clear());
  }

  @Get('session')
  @ApiCookieAuth()
  @ApiBearerAuth()
  @ApiOkResponse({ type: AuthResponseDto })
  current(@CurrentSession() session: Session): AuthResponseDto {
    return AuthResponseDto.from(session);
  }

  @Post('password')
  @HttpCode(HttpStatus.OK)
  @ApiCookieAuth()
  @ApiBearerAuth()
  @ApiOkResponse({
    type: AuthResponseDto,
    description: 'The session is rotated: a new cookie, or a new token in the body',
  })
  @ApiForbiddenResponse({ description: 'Current password is incorrect' })
  async changePassword(
    @CurrentSession() session: Session,
    @Req() request: HttpRequest & SessionRequest,
    @Res({ passthrough: true }) response: HttpResponse,
    @Body() body: ChangePasswordDto,
  ): Promise<AuthResponseDto> {
    // The token SessionGuard validated for this request is the one rotated.
    const presented = request[REQUEST_TOKEN_PROPERTY];
    if (!presented) {
      throw new Error('SessionGuard did not run on a route that needs a session');
    }
    const issued = await this.auth.changePassword(
      session,
      presented.token,
      body,
      clientIp(request),
    );
    return this.deliver(response, issued, presented.source);
  }

  /** Hands the token over: in an HttpOnly cookie, or in the body and never in a cookie. */
  private deliver(
    response: HttpResponse,
    { token, session }: IssuedSession,
    transport: LoginTransport,
  ): AuthResponseDto {
    response.setHeader('Cache-Control', 'no-store');
    if (transport === 'bearer') {
      return AuthResponseDto.from(session, token);
    }
    response.setHeader('Set-Cookie', this.cookies.serialize(token, session.absoluteExpiresAt));
    return AuthResponseDto.from(session);
  }
}
