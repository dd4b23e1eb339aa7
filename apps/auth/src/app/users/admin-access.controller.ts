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
import { OutcomeUnknownException } from './outcome-unknown.exception';
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
    const event = {
      type: body.disabled ? 'user.disabled' : 'user.enabled',
      userId: id,
      actor: actorOf(current),
    } as const;
    // Read first for a change whose outcome may come to be unknown: only a change of the flag
    // is an event, and what the row held before is then lost with the answer.
    const earlier = await this.users.findById(id);
    let changed: Awaited<ReturnType<UsersService['changeAccess']>>;
    try {
      changed = await this.users.changeAccess(
        id,
        current.userId,
        { disabled: body.disabled },
        async (user) => {
          if (user.disabled) {
            await this.sessions.revokeAllForUser(user.id, {
              reason: 'disable',
              actor: actorOf(current),
            });
          }
        },
      );
    } catch (error) {
      // The row may hold the change, which the sessions are then brought in line with: it is
      // recorded as one answered 200 is, once the database tells that it stands.
      if (error instanceof OutcomeUnknownException && earlier?.disabled !== body.disabled) {
        this.activity.recordIfStands(
          event,
          async () => (await this.users.findById(id))?.disabled === body.disabled,
        );
      }
      throw error;
    }
    const { user, before } = changed;
    if (before.disabled !== user.disabled) {
      await this.activity.record(event);
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
