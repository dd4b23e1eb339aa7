import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';

import { ActivityModule } from '../activity/activity.module';
import { AccessSync } from './access-sync.service';
import { AdminLock } from './admin-lock';
import { AdminAccessController } from './admin-access.controller';
import { User } from './entities/user.entity';
import { PasswordPolicyService } from './password-policy.service';
import { PasswordService } from './password.service';
import { UsersController } from './users.controller';
import { UsersService } from './users.service';

@Module({
  imports: [TypeOrmModule.forFeature([User]), ActivityModule],
  controllers: [UsersController, AdminAccessController],
  providers: [UsersService, PasswordService, PasswordPolicyService, AdminLock, AccessSync],
  exports: [UsersService, PasswordPolicyService],
})
export class UsersModule {}
