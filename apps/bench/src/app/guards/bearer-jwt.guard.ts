import {
  CanActivate,
  ExecutionContext,
  ForbiddenException,
  UnauthorizedException,
} from '@nestjs/common';

import { REQUIRED_ROLE } from '../scenarios';

/** The claims every benchmark JWT carries, like the user part of a session. */
export interface BenchClaims {
  sub: string;
  name: string;
  roles: string[];
}

interface JwtRequest {
  headers: Record<string, string | string[] | undefined>;
  user?: BenchClaims;
}

/**
 * What a JWT guard does per request, like the session guard: read the bearer token, verify
 * it (signature, expiry), check the role, attach the user. Subclasses differ only in the
 * library and algorithm that verify.
 */
export abstract class BearerJwtGuard implements CanActivate {
  async canActivate(context: ExecutionContext): Promise<boolean> {
    const request = context.switchToHttp().getRequest<JwtRequest>();
    const header = request.headers['authorization'];
    if (typeof header !== 'string' || !header.startsWith('Bearer ')) {
      throw new UnauthorizedException('Authentication required');
    }
    let claims: BenchClaims;
    try {
      claims = await this.verify(header.slice(7).trim());
    } catch {
      throw new UnauthorizedException('Authentication required');
    }
    if (!Array.isArray(claims.roles) || !claims.roles.includes(REQUIRED_ROLE)) {
      throw new ForbiddenException('Missing role');
    }
    request.user = claims;
    return true;
  }

  protected abstract verify(token: string): Promise<BenchClaims> | BenchClaims;
}
