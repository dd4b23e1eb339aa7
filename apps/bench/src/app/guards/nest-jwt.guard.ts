import { Injectable } from '@nestjs/common';
import { JwtService } from '@nestjs/jwt';

import { BearerJwtGuard, BenchClaims } from './bearer-jwt.guard';

/** HS256 through `@nestjs/jwt` (jsonwebtoken underneath), as most Nest apps do it. */
@Injectable()
export class NestJwtGuard extends BearerJwtGuard {
  constructor(private readonly jwt: JwtService) {
    super();
  }

  protected verify(token: string): Promise<BenchClaims> {
    return this.jwt.verifyAsync<BenchClaims>(token, { algorithms: ['HS256'] });
  }
}
