import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';

import { AdminAccessController } from './admin-access.controller';
import { User } from './entities/user.entity';
import { PasswordService } from './password.service';
import { UsersController } from './users.controller';
import { UsersService } from './users.service';

@Module({
  imports: [TypeOrmModule.forFeature([User])],
  controllers: [UsersController, AdminAccessController],
  providers: [UsersService, PasswordService],
  exports: [UsersService],
})
export class UsersModule {}
