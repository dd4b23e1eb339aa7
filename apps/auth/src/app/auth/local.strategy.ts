import { Injectable } from '@nestjs/common';
import { PassportStrategy } from '@nestjs/passport';
import { Strategy } from 'passport-local';

import type { HttpRequest } from '../common/http.types';
import { AuthService, VerifiedLogin } from './auth.service';
import { clientInfo } from './client-ip';
import { DeviceLabelService } from './device-label.service';
import { DeviceTokenService } from './device-token.service';

@Injectable()
export class LocalStrategy extends PassportStrategy(Strategy) {
  constructor(
    private readonly auth: AuthService,
    private readonly devices: DeviceLabelService,
    private readonly deviceTokens: DeviceTokenService,
  ) {
    super({ passReqToCallback: true });
  }

  /** What passport sets as `request.user`: the user and their new device token. */
  validate(request: HttpRequest, username: string, password: string): Promise<VerifiedLogin> {
    return this.auth.verifyLogin(
      username,
      password,
      clientInfo(request, this.devices, this.deviceTokens),
    );
  }
}
