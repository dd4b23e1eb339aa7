import { CustomDecorator } from '@nestjs/common';
import { Reflector } from '@nestjs/core';

/**
 * The route's window in seconds; absent: the module's `reauthWindow`.
 *
 * @example
 * const rule = reflector.getAllAndOverride<RecentAuthRule | undefined>(RequireRecentAuth, [
 *   context.getHandler(),
 *   context.getClass(),
 * ]);
 */
export interface RecentAuthRule {
  seconds?: number;
}

// An object, not a bare number: `createDecorator` stores `{}` for a null or undefined value.
const RequireRecentAuthMetadata = Reflector.createDecorator<RecentAuthRule>();

/**
 * A route (or a whole controller) that needs a recent authentication: `SessionGuard` answers
 * 401 `reauthentication_required` (`ReauthenticationRequiredException`) unless the session's
 * `authenticatedAt` is at most `seconds` old (default: the module's `reauthWindow`). It reads
 * the session it validated: no extra store call. On a handler it overrides its controller's.
 *
 * @example
 * @RequireRecentAuth()
 * @Roles('admin')
 * @Put('users/:id/disabled')
 * disable() {}
 *
 * @RequireRecentAuth(60) // a minute, whatever the module's window
 * @Delete('account')
 * close() {}
 */
export const RequireRecentAuth: ((seconds?: number) => CustomDecorator) & { KEY: string } =
  Object.assign(
    (seconds?: number) => {
      if (seconds !== undefined && !(Number.isFinite(seconds) && seconds > 0)) {
        throw new TypeError('@RequireRecentAuth(seconds): seconds must be a positive number');
      }
      return RequireRecentAuthMetadata(seconds === undefined ? {} : { seconds });
    },
    { KEY: RequireRecentAuthMetadata.KEY },
  );
