import {
  CanActivate,
  ExecutionContext,
  ForbiddenException,
  Injectable,
  UnauthorizedException,
} from '@nestjs/common';

import { REQUIRED_ROLE } from '../scenarios';

interface ExpressSessionRequest {
  session?: { user?: { id: string; roles: string[] } };
}

/** The check an express-session app makes: the middleware loaded the session, the guard reads it. */
@Injectable()
export class ExpressSessionGuard implements CanActivate {
  canActivate(context: ExecutionContext): boolean {
    const user = context.switchToHttp().getRequest<ExpressSessionRequest>().session?.user;
    if (!user) {
      throw new UnauthorizedException('Authentication required');
    }
    if (!user.roles.includes(REQUIRED_ROLE)) {
      throw new ForbiddenException('Missing role');
    }
    return true;
  }
}
