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

import { eventKey, SecurityActivityService } from '../activity/security-activity.service';
import { NoBody } from '../common/no-body.decorator';
import { SetDisabledDto } from './dto/set-disabled.dto';
import { UserDto } from './dto/user.dto';
import { AccessOutcomeUnknownException, UsersService } from './users.service';

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
    // Named by the version the change was decided from: an administrator whose answer was lost
    // and one who made the same change after it (the first never landed) report one change.
    const keyOf = (version: number) => ({ key: eventKey('access', id, String(version)) });
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
      // recorded as one answered 200 is, once the database tells that it stands — the version
      // moved past the one it was decided from, with the flag it set. Whoever moved it from that
      // version (this change, or the same one made by another administrator after this one was
      // lost) records it under the same key. Should more changes have followed before the look,
      // the row no longer tells whose it was: the flag as it stands decides.
      if (
        error instanceof AccessOutcomeUnknownException &&
        error.before.disabled !== body.disabled
      ) {
        const { version } = error.before;
        this.activity.recordIfStands(
          event,
          async () => {
            const row = await this.users.findById(id);
            return !!row && row.accessVersion > version && row.disabled === body.disabled;
          },
          keyOf(version),
        );
      }
      throw error;
    }
    const { user, before } = changed;
    if (before.disabled !== user.disabled) {
      await this.activity.record(event, keyOf(before.version));
    }
    return UserDto.from(user);
  }

  /** Every session of every user ends at once, on every service; the caller's own stays. */
  @Post('revoke-all')
  @HttpCode(HttpStatus.NO_CONTENT)
  @ApiNoContentResponse({ description: 'Every other session is revoked' })
  @ApiBadRequestResponse({ description: 'A body came with it: the action takes none' })
  async revokeAll(@NoBody() _body: void, @CurrentSession() current: Session): Promise<void> {
    let revoking: Promise<number> | undefined;
    // The admin lock until the watermark is set, not through the sweep: once set, every session
    // it outdates is refused and the revocation stands whoever is demoted next, while a sweep of
    // a large deployment would hold every other administrator's access change past its wait.
    await this.users.asEnabledAdmin(
      current.userId,
      () =>
        new Promise<void>((set, failed) => {
          revoking = this.sessions.revokeEverything({
            except: current.id,
            actor: actorOf(current),
            onWatermark: set,
          });
          revoking.then(() => set(), failed);
        }),
    );
    await revoking;
  }
}

function actorOf(session: Session): { id: string; username: string } {
  return { id: session.userId, username: session.username };
}
