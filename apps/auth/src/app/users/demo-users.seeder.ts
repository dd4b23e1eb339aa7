import { ConflictException, Injectable, Logger, OnApplicationBootstrap } from '@nestjs/common';

import { AuthConfig } from '../config/auth.config';
import { UsersService } from './users.service';

const DEMO_USERS = [
  { username: 'alice', password: 'alice-password', roles: ['customer'] },
  { username: 'bob', password: 'bob-password', roles: ['customer'] },
  { username: 'admin', password: 'admin-password', roles: ['admin'] },
];

/** Outside production, an empty user table gets the demo accounts so the stack is usable. */
@Injectable()
export class DemoUsersSeeder implements OnApplicationBootstrap {
  private readonly logger = new Logger(DemoUsersSeeder.name);

  constructor(
    private readonly config: AuthConfig,
    private readonly users: UsersService,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    if (this.config.isProduction || (await this.users.count()) > 0) {
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
