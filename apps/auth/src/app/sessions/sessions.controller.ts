import {
  Controller,
  Delete,
  Get,
  HttpCode,
  HttpStatus,
  NotFoundException,
  Param,
} from '@nestjs/common';
import {
  ApiBadRequestResponse,
  ApiBearerAuth,
  ApiCookieAuth,
  ApiNoContentResponse,
  ApiNotFoundResponse,
  ApiOkResponse,
  ApiTags,
  ApiUnauthorizedResponse,
} from '@nestjs/swagger';

import {
  CurrentSession,
  ReauthenticationRequiredException,
  RequireRecentAuth,
  Session,
  SessionEventActor,
  SessionService,
} from '@cloakroom/session';

import { NoBody } from '../common/no-body.decorator';
import { SessionIdPipe } from '../common/session-id.pipe';
import { SessionSummaryDto } from './dto/session-summary.dto';

/** The caller's own sessions: list them, end one, or end all but this one. */
@ApiTags('sessions')
@ApiCookieAuth()
@ApiBearerAuth()
@Controller('sessions')
export class SessionsController {
  constructor(private readonly sessions: SessionService) {}

  @Get()
  @ApiOkResponse({ type: [SessionSummaryDto] })
  async list(@CurrentSession() current: Session): Promise<SessionSummaryDto[]> {
    const sessions = await this.sessions.listForUser(current.userId);
    return sessions.map((session) => SessionSummaryDto.from(session, current.id));
  }

  /**
   * Ending the caller's own session is free; ending another of theirs needs recent auth, as
   * ending all of them does: otherwise a stolen session signs its owner out everywhere else,
   * one id at a time.
   */
  @Delete(':id')
  @HttpCode(HttpStatus.NO_CONTENT)
  @ApiNoContentResponse()
  @ApiNotFoundResponse({ description: "No such session among the caller's (a token is no id)" })
  @ApiUnauthorizedResponse({
    description: '`reauthentication_required` for another session: re-enter the password',
  })
  @ApiBadRequestResponse({ description: 'A body came with it: the action takes none' })
  async revoke(
    @NoBody() _body: void,
    @CurrentSession() current: Session,
    @Param('id') id: string,
  ): Promise<void> {
    if (id !== current.id && !this.sessions.isRecentlyAuthenticated(current)) {
      throw new ReauthenticationRequiredException();
    }
    // After the recent-auth check, which refuses any other id alike: a token is no id.
    SessionIdPipe.check(id);
    // The owner check runs inside the store: another user's session id is simply "not found".
    const revoked = await this.sessions.revoke(id, {
      ownerId: current.userId,
      reason: 'self',
      actor: actorOf(current),
    });
    if (!revoked) {
      throw new NotFoundException('Session not found');
    }
  }

  /** Recent auth: a stolen session must not be able to sign its owner out everywhere else. */
  @Delete()
  @RequireRecentAuth()
  @HttpCode(HttpStatus.NO_CONTENT)
  @ApiNoContentResponse({ description: "The caller's other sessions are revoked" })
  @ApiUnauthorizedResponse({ description: '`reauthentication_required`: re-enter the password' })
  @ApiBadRequestResponse({ description: 'A body came with it: the action takes none' })
  async revokeOthers(@NoBody() _body: void, @CurrentSession() current: Session): Promise<void> {
    await this.sessions.revokeAllForUser(current.userId, {
      except: current.id,
      reason: 'self',
      actor: actorOf(current),
    });
  }
}

function actorOf(session: Session): SessionEventActor {
  return { id: session.userId, username: session.username };
}
