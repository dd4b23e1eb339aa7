import {
  Body,
  ConflictException,
  Controller,
  HttpCode,
  HttpStatus,
  Param,
  ParseUUIDPipe,
  Post,
  Put,
} from '@nestjs/common';
import {
  ApiBearerAuth,
  ApiConflictResponse,
  ApiCookieAuth,
  ApiForbiddenResponse,
  ApiNoContentResponse,
  ApiNotFoundResponse,
  ApiOkResponse,
  ApiTags,
} from '@nestjs/swagger';

import { CurrentSession, Roles, Session, SessionService } from '@cloakroom/session';

import { SetDisabledDto } from './dto/set-disabled.dto';
import { UserDto } from './dto/user.dto';
import { UsersService } from './users.service';

/**
 * An administrator's emergency brakes: disable one account (every session of it ends at once,
 * its logins fail like a wrong password), or end every session of every user.
 */
@ApiTags('users (admin)')
@ApiCookieAuth()
@ApiBearerAuth()
@ApiForbiddenResponse({ description: 'The session lacks the admin role' })
@Roles('admin')
@Controller()
export class AdminAccessController {
  constructor(
    private readonly users: UsersService,
    private readonly sessions: SessionService,
  ) {}

  /**
   * The database first, then the sessions: a login racing the change either reads the
   * account as disabled or is refused by the revocation generation the revoke-all moves.
   */
  @Put('users/:id/disabled')
  @ApiOkResponse({ type: UserDto })
  @ApiNotFoundResponse()
  @ApiConflictResponse({ description: 'An administrator cannot disable their own account' })
  async setDisabled(
    @Param('id', new ParseUUIDPipe()) id: string,
    @Body() body: SetDisabledDto,
    @CurrentSession() current: Session,
  ): Promise<UserDto> {
    if (body.disabled && id === current.userId) {
      throw new ConflictException('You cannot disable your own account');
    }
    const user = await this.users.setDisabled(id, body.disabled);
    if (user.disabled) {
      await this.sessions.revokeAllForUser(user.id, { reason: 'disable', actor: actorOf(current) });
    }
    return UserDto.from(user);
  }

  /** Every session of every user ends at once, on every service; the caller's own stays. */
  @Post('revoke-all')
  @HttpCode(HttpStatus.NO_CONTENT)
  @ApiNoContentResponse({ description: 'Every other session is revoked' })
  async revokeAll(@CurrentSession() current: Session): Promise<void> {
    await this.sessions.revokeEverything({ except: current.id, actor: actorOf(current) });
  }
}

function actorOf(session: Session): { id: string; username: string } {
  return { id: session.userId, username: session.username };
}
