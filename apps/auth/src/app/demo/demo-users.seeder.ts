import { ConflictException, Injectable, Logger, OnApplicationBootstrap } from '@nestjs/common';

import { AuthEnv } from '../config/auth.env';
import { UsersService } from '../users/users.service';

/** The demo accounts; their passwords are in the README, so never in production. */
export const DEMO_USERS = [
  { username: 'alice', password: 'alice-password', roles: ['customer'] },
  { username: 'bob', password: 'bob-password', roles: ['customer'] },
  { username: 'admin', password: 'admin-password', roles: ['admin'] },
];

/**
 * When asked (`SEED_DEMO_USERS=true`, refused in production by the configuration), an empty
 * user table gets the demo accounts so the stack is usable.
 */
@Injectable()
export class DemoUsersSeeder implements OnApplicationBootstrap {
  private readonly logger = new Logger(DemoUsersSeeder.name);

  constructor(
    private readonly env: AuthEnv,
    private readonly users: UsersService,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    if (!this.env.SEED_DEMO_USERS || (await this.users.count()) > 0) {
      return;
    }
    for (const user of DEMO_USERS) {
      try {
        await this.users.create(user);
      } catch (error) {
        // Another instance starting at the same moment seeded it first.
        if (!(error instanceof ConflictException)) throw error;
      }
    }
    this.logger.log(`Seeded demo users: ${DEMO_USERS.map((user) => user.username).join(', ')}`);
  }
}
