import {
  BadRequestException,
  Controller,
  Get,
  NotFoundException,
  Param,
  ParseUUIDPipe,
  Query,
} from '@nestjs/common';
import {
  ApiBadRequestResponse,
  ApiBearerAuth,
  ApiCookieAuth,
  ApiForbiddenResponse,
  ApiNotFoundResponse,
  ApiOkResponse,
  ApiTags,
} from '@nestjs/swagger';
import { InjectRepository } from '@nestjs/typeorm';
import { Repository } from 'typeorm';

import { CurrentSession, Roles, Session } from '@cloakroom/session';

import { User } from '../users/entities/user.entity';
import { ActivityCursor, ActivityCursorCodec } from './activity-cursor';
import { ActivityPageDto } from './dto/activity-page.dto';
import { ActivityQueryDto } from './dto/activity-query.dto';
import { SecurityActivityService } from './security-activity.service';

/** The security activity log: the caller's own, and any user's for administrators. */
@ApiTags('activity')
@ApiCookieAuth()
@ApiBearerAuth()
@ApiBadRequestResponse({ description: 'A cursor this service did not issue for this log' })
@Controller()
export class ActivityController {
  constructor(
    private readonly activity: SecurityActivityService,
    private readonly cursors: ActivityCursorCodec,
    @InjectRepository(User) private readonly users: Repository<User>,
  ) {}

  @Get('activity')
  @ApiOkResponse({ type: ActivityPageDto, description: "The caller's events, newest first" })
  async own(
    @CurrentSession() current: Session,
    @Query() query: ActivityQueryDto,
  ): Promise<ActivityPageDto> {
    return this.pageOf(current.userId, this.cursorOf(query, current.userId));
  }

  /** The same page as the user's own `/activity`. */
  @Get('users/:id/activity')
  @Roles('admin')
  @ApiOkResponse({ type: ActivityPageDto })
  @ApiForbiddenResponse({ description: 'The session lacks the admin role' })
  @ApiNotFoundResponse({ description: 'No such user' })
  async ofUser(
    @Param('id', new ParseUUIDPipe()) id: string,
    @Query() query: ActivityQueryDto,
  ): Promise<ActivityPageDto> {
    return this.pageOf(id, this.cursorOf(query, id));
  }

  /**
   * A user's events, with the revocations of every user's sessions made while the account
   * existed: they ended this user's sessions too, and the user is owed the reason.
   */
  private async pageOf(id: string, cursor: ActivityCursor | null): Promise<ActivityPageDto> {
    const user = await this.users.findOne({ where: { id }, select: { id: true, createdAt: true } });
    if (!user) {
      throw new NotFoundException('User not found');
    }
    return ActivityPageDto.from(
      await this.activity.list(id, cursor, {
        includeEveryone: { since: user.createdAt.getTime() },
      }),
    );
  }

  /**
   * The page of `userId`'s log a query asks for: the first without `cursor`; an empty `cursor`
   * is refused like any other this service did not issue (as the other lists do), since a
   * client that sent the last page's `next` (null) as an empty parameter would otherwise get the
   * first page again for ever. So is a cursor issued for another user's log (it would page this
   * one), and one whose position was changed.
   */
  private cursorOf(query: ActivityQueryDto, userId: string): ActivityCursor | null {
    if (query.cursor === undefined) {
      return null;
    }
    const cursor = this.cursors.decode(query.cursor, userId);
    if (!cursor) {
      throw new BadRequestException('Invalid cursor');
    }
    return cursor;
  }
}
