import { ServiceUnavailableException } from '@nestjs/common';

/**
 * `SessionService.create` refused a session because the user's revocation generation moved
 * since the caller read it: a role change, revoke-all or password change raced the login.
 * Read the user again (and the generation first) and retry, a few times (auth tries 5: two
 * changes in one login are an ordinary race, "log out my other devices" clicked twice);
 * answered as is, it is a 503.
 *
 * @example
 * try {
 *   return await sessions.create(user, meta, { generation });
 * } catch (error) {
 *   if (!(error instanceof SessionUserChangedError)) throw error;
 *   // read the generation, then the user, and create again
 * }
 */
export class SessionUserChangedError extends ServiceUnavailableException {
  constructor() {
    super('The account changed during sign-in; try again');
    this.name = 'SessionUserChangedError';
  }
}
