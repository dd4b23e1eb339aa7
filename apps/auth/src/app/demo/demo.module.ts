import { Module } from '@nestjs/common';

import { UsersModule } from '../users/users.module';
import { DemoUsersController } from './demo-users.controller';
import { DemoUsersSeeder } from './demo-users.seeder';

/** Demo accounts for local use: seeded only when asked, never in production. */
@Module({
  imports: [UsersModule],
  controllers: [DemoUsersController],
  providers: [DemoUsersSeeder],
})
export class DemoModule {}
