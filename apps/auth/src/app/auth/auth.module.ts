import { Module } from '@nestjs/common';
import { PassportModule } from '@nestjs/passport';

import { ActivityModule } from '../activity/activity.module';
import { UsersModule } from '../users/users.module';
import { AuthController } from './auth.controller';
import { AuthService } from './auth.service';
import { DeviceLabelService } from './device-label.service';
import { DeviceTokenService } from './device-token.service';
import { LocalStrategy } from './local.strategy';
import { LoginThrottleService } from './login-throttle.service';

@Module({
  imports: [PassportModule, UsersModule, ActivityModule],
  controllers: [AuthController],
  providers: [
    AuthService,
    LocalStrategy,
    LoginThrottleService,
    DeviceLabelService,
    DeviceTokenService,
  ],
})
export class AuthModule {}
