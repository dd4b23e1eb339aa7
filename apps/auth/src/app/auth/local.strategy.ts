import { Injectable } from '@nestjs/common';
import { PassportStrategy } from '@nestjs/passport';
import { Strategy } from 'passport-local';

import type { HttpRequest } from '../common/http.types';
import { User } from '../users/entities/user.entity';
import { AuthService } from './auth.service';
import { clientInfo } from './client-ip';
import { DeviceLabelService } from './device-label.service';

@Injectable()
export class LocalStrategy extends PassportStrategy(Strategy) {
  constructor(
    private readonly auth: AuthService,
    private readonly devices: DeviceLabelService,
  ) {
    super({ passReqToCallback: true });
  }

  validate(request: HttpRequest, username: string, password: string): Promise<User> {
    return this.auth.verifyLogin(username, password, clientInfo(request, this.devices));
  }
}
