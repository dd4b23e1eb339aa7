import { ConflictException } from '@nestjs/common';

import type { Session } from '../session.types';

/**
 * `SessionService.create` refused a session because its user already holds
 * `maxSessionsPerUser` live ones and `capPolicy` is `refuse`; nothing was written. `sessions`
 * are the user's live sessions, oldest first, so the app can offer which to end. Answered as
 * is, it is a 409 whose body does not list them.
 *
 * @example
 * try {
 *   return await sessions.create(user, meta);
 * } catch (error) {
 *   if (error instanceof SessionLimitReachedError) {
 *     throw new ConflictException({ message: error.message, sessions: error.sessions.map(view) });
 *   }
 *   throw error;
 * }
 */
export class SessionLimitReachedError extends ConflictException {
  constructor(readonly sessions: Session[]) {
    super('Too many sessions: end one of them first');
    this.name = 'SessionLimitReachedError';
  }
}
