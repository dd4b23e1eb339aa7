import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';

import { SessionEventsModule } from '../sessions/session-events.module';
import { DemoUsersSeeder } from './demo-users.seeder';
import { User } from './entities/user.entity';
import { PasswordService } from './password.service';
import { UsersController } from './users.controller';
import { UsersService } from './users.service';

@Module({
  imports: [TypeOrmModule.forFeature([User]), SessionEventsModule],
  controllers: [UsersController],
  providers: [UsersService, PasswordService, DemoUsersSeeder],
  exports: [UsersService],
})
export class UsersModule {}
