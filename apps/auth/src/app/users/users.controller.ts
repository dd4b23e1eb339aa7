import {
  Body,
  Controller,
  Delete,
  Get,
  HttpCode,
  HttpStatus,
  NotFoundException,
  Param,
  ParseUUIDPipe,
  Post,
  Put,
  Query,
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
  SessionEventActor,
  SessionService,
} from '@cloakroom/session';

import { NoBody } from '../common/no-body.decorator';
import { SessionIdPipe } from '../common/session-id.pipe';
import { SessionSummaryDto } from '../sessions/dto/session-summary.dto';
import { CreateUserDto } from './dto/create-user.dto';
import { ListUsersQueryDto, UserListItemDto, UserPageDto } from './dto/list-users.dto';
import { SetRolesDto } from './dto/set-roles.dto';
import { UserDto } from './dto/user.dto';
import { PasswordPolicyService } from './password-policy.service';
import { UsersService } from './users.service';

/** The admin console: users, their roles and their sessions. */
@ApiTags('users (admin)')
@ApiCookieAuth()
@ApiBearerAuth()
@ApiForbiddenResponse({ description: 'The session lacks the admin role' })
@Roles('admin')
@Controller('users')
export class UsersController {
  constructor(
    private readonly users: UsersService,
    private readonly sessions: SessionService,
    private readonly policy: PasswordPolicyService,
  ) {}

  /** Users in username order, 25 a page, with how many live sessions each has. */
  @Get()
  @ApiOkResponse({ type: UserPageDto })
  @ApiBadRequestResponse({ description: 'A cursor this list did not give out' })
  async list(@Query() query: ListUsersQueryDto): Promise<UserPageDto> {
    const page = await this.users.list(query);
    const counts = await Promise.all(
      page.items.map(async (user) => (await this.sessions.listForUser(user.id)).length),
    );
    return {
      items: page.items.map((user, index) => UserListItemDto.fromUser(user, counts[index])),
      next: page.next,
    };
  }

  @Post()
  @RequireRecentAuth()
  @ApiConflictResponse({ description: 'Username already taken' })
  @ApiBadRequestResponse({ description: 'A bad body, or a password the policy refuses' })
  @ApiUnauthorizedResponse({ description: '`reauthentication_required`: re-enter the password' })
  async create(@Body() body: CreateUserDto, @CurrentSession() admin: Session): Promise<UserDto> {
    this.policy.assertAcceptable(body.password, { username: body.username });
    return UserDto.from(await this.users.create(body, admin.userId));
  }

  /** New roles reach the user's live sessions on their next request: no new login needed. */
  @Put(':id/roles')
  @RequireRecentAuth()
  @ApiOkResponse({ type: UserDto })
  @ApiNotFoundResponse()
  @ApiConflictResponse({
    description: 'It would remove your own admin role, or leave no enabled administrator',
  })
  @ApiUnauthorizedResponse({ description: '`reauthentication_required`: re-enter the password' })
  async setRoles(
    @Param('id', new ParseUUIDPipe()) id: string,
    @Body() body: SetRolesDto,
    @CurrentSession() admin: Session,
  ): Promise<UserDto> {
    const { user } = await this.users.changeAccess(
      id,
      admin.userId,
      { roles: body.roles },
      async (changed) => {
        await this.sessions.setRolesForUser(changed.id, changed.roles, { actor: actorOf(admin) });
      },
    );
    return UserDto.from(user);
  }

  /** A user's live sessions, oldest first, as the user sees them (without `current`). */
  @Get(':id/sessions')
  @ApiOkResponse({ type: [SessionSummaryDto] })
  @ApiNotFoundResponse()
  async listSessions(@Param('id', new ParseUUIDPipe()) id: string): Promise<SessionSummaryDto[]> {
    await this.mustExist(id);
    const sessions = await this.sessions.listForUser(id);
    return sessions.map((session) => SessionSummaryDto.from(session));
  }

  /**
   * Every session of the user; on the caller's own account, every one but the session asking,
   * as `DELETE /sessions` and `POST /revoke-all` keep it: the console's "end all sessions" on
   * the administrator's own row must not sign them out in the middle of their work.
   */
  @Delete(':id/sessions')
  @RequireRecentAuth()
  @HttpCode(HttpStatus.NO_CONTENT)
  @ApiNoContentResponse({
    description: "All the user's sessions are revoked (the caller's own: all but the current one)",
  })
  @ApiNotFoundResponse()
  @ApiUnauthorizedResponse({ description: '`reauthentication_required`: re-enter the password' })
  @ApiBadRequestResponse({ description: 'A body came with it: the action takes none' })
  async revokeSessions(
    @NoBody() _body: void,
    @Param('id', new ParseUUIDPipe()) id: string,
    @CurrentSession() admin: Session,
  ): Promise<void> {
    await this.users.asEnabledAdmin(admin.userId, async () => {
      await this.mustExist(id);
      const own = id === admin.userId;
      await this.sessions.revokeAllForUser(id, {
        except: own ? admin.id : undefined,
        reason: own ? 'self' : 'admin',
        actor: actorOf(admin),
      });
    });
  }

  @Delete(':id/sessions/:sessionId')
  @RequireRecentAuth()
  @HttpCode(HttpStatus.NO_CONTENT)
  @ApiNoContentResponse({ description: 'The session is revoked' })
  @ApiNotFoundResponse({ description: 'No such session among that user’s (a token is no id)' })
  @ApiUnauthorizedResponse({ description: '`reauthentication_required`: re-enter the password' })
  @ApiBadRequestResponse({ description: 'A body came with it: the action takes none' })
  async revokeSession(
    @NoBody() _body: void,
    @Param('id', new ParseUUIDPipe()) id: string,
    @Param('sessionId', SessionIdPipe) sessionId: string,
    @CurrentSession() admin: Session,
  ): Promise<void> {
    // The owner check runs inside the store: another user's session is simply "not found".
    const revoked = await this.users.asEnabledAdmin(admin.userId, () =>
      this.sessions.revoke(sessionId, { ownerId: id, reason: 'admin', actor: actorOf(admin) }),
    );
    if (!revoked) {
      throw new NotFoundException('Session not found');
    }
  }

  private async mustExist(id: string): Promise<void> {
    if (!(await this.users.findById(id))) {
      throw new NotFoundException('User not found');
    }
  }
}

function actorOf(session: Session): SessionEventActor {
  return { id: session.userId, username: session.username };
}
