import {
  Body,
  Controller,
  HttpCode,
  HttpStatus,
  Param,
  ParseUUIDPipe,
  Post,
  Put,
} from '@nestjs/common';
import {
  ApiBadRequestResponse,
  ApiBearerAuth,
  ApiConflictResponse,
  ApiCookieAuth,
  ApiForbiddenResponse,
  ApiNoContentResponse,
  ApiNotFoundResponse,
  ApiOkResponse,
  ApiTags,
  ApiUnauthorizedResponse,
} from '@nestjs/swagger';

import {
  CurrentSession,
  RequireRecentAuth,
  Roles,
  Session,
  SessionService,
} from '@cloakroom/session';

import { SecurityActivityService } from '../activity/security-activity.service';
import { NoBody } from '../common/no-body.decorator';
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
@ApiUnauthorizedResponse({ description: '`reauthentication_required`: re-enter the password' })
@Roles('admin')
@RequireRecentAuth()
@Controller()
export class AdminAccessController {
  constructor(
    private readonly users: UsersService,
    private readonly sessions: SessionService,
    private readonly activity: SecurityActivityService,
  ) {}

  /**
   * The database first, then the sessions: a login racing the change either reads the
   * account as disabled or is refused by the revocation generation the revoke-all moves.
   */
  @Put('users/:id/disabled')
  @ApiOkResponse({ type: UserDto })
  @ApiNotFoundResponse()
  @ApiConflictResponse({
    description: 'Your own account, or the last enabled administrator',
  })
  async setDisabled(
    @Param('id', new ParseUUIDPipe()) id: string,
    @Body() body: SetDisabledDto,
    @CurrentSession() current: Session,
  ): Promise<UserDto> {
    const { user, before } = await this.users.changeAccess(
      id,
      current.userId,
      { disabled: body.disabled },
      async (changed) => {
        if (changed.disabled) {
          await this.sessions.revokeAllForUser(changed.id, {
            reason: 'disable',
            actor: actorOf(current),
          });
        }
      },
    );
    if (before.disabled !== user.disabled) {
      await this.activity.record({
        type: user.disabled ? 'user.disabled' : 'user.enabled',
        userId: user.id,
        actor: actorOf(current),
      });
    }
    return UserDto.from(user);
  }

  /** Every session of every user ends at once, on every service; the caller's own stays. */
  @Post('revoke-all')
  @HttpCode(HttpStatus.NO_CONTENT)
  @ApiNoContentResponse({ description: 'Every other session is revoked' })
  @ApiBadRequestResponse({ description: 'A body came with it: the action takes none' })
  async revokeAll(@NoBody() _body: void, @CurrentSession() current: Session): Promise<void> {
    await this.sessions.revokeEverything({ except: current.id, actor: actorOf(current) });
  }
}

function actorOf(session: Session): { id: string; username: string } {
  return { id: session.userId, username: session.username };
}
