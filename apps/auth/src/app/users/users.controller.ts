import {
  Body,
  Controller,
  Delete,
  HttpCode,
  HttpStatus,
  NotFoundException,
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

import {
  CurrentSession,
  Roles,
  Session,
  SessionEventActor,
  SessionService,
} from '@cloakroom/session';

import { CreateUserDto } from './dto/create-user.dto';
import { SetRolesDto } from './dto/set-roles.dto';
import { UserDto } from './dto/user.dto';
import { UsersService } from './users.service';

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
  ) {}

  @Post()
  @ApiConflictResponse({ description: 'Username already taken' })
  async create(@Body() body: CreateUserDto): Promise<UserDto> {
    return UserDto.from(await this.users.create(body));
  }

  /** New roles reach the user's live sessions on their next request: no new login needed. */
  @Put(':id/roles')
  @ApiOkResponse({ type: UserDto })
  @ApiNotFoundResponse()
  async setRoles(
    @Param('id', new ParseUUIDPipe()) id: string,
    @Body() body: SetRolesDto,
    @CurrentSession() admin: Session,
  ): Promise<UserDto> {
    const user = await this.users.setRoles(id, body.roles);
    await this.sessions.setRolesForUser(user.id, user.roles, { actor: actorOf(admin) });
    return UserDto.from(user);
  }

  @Delete(':id/sessions')
  @HttpCode(HttpStatus.NO_CONTENT)
  @ApiNoContentResponse({ description: "All the user's sessions are revoked" })
  @ApiNotFoundResponse()
  async revokeSessions(
    @Param('id', new ParseUUIDPipe()) id: string,
    @CurrentSession() admin: Session,
  ): Promise<void> {
    if (!(await this.users.findById(id))) {
      throw new NotFoundException('User not found');
    }
    await this.sessions.revokeAllForUser(id, { reason: 'admin', actor: actorOf(admin) });
  }
}

function actorOf(session: Session): SessionEventActor {
  return { id: session.userId, username: session.username };
}
