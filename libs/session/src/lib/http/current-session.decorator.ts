import { createParamDecorator, ExecutionContext } from '@nestjs/common';

import { REQUEST_SESSION_PROPERTY } from '../session.constants';
import type { Session, SessionUser } from '../session.types';
import { sessionCarrierOf } from './session-carrier';

function sessionOf(context: ExecutionContext): Session | undefined {
  return sessionCarrierOf(context)?.[REQUEST_SESSION_PROPERTY];
}

/**
 * The session `SessionGuard` validated for this request, GraphQL operation or WebSocket
 * message (undefined on `@Public()` routes).
 *
 * @example
 * @Get('session')
 * whoami(@CurrentSession() session: Session) {}
 *
 * @Query(() => [Order])
 * myOrders(@CurrentSession() session: Session) {}
 */
export const CurrentSession = createParamDecorator(
  (_data: unknown, context: ExecutionContext): Session | undefined => sessionOf(context),
);

/**
 * The user of the session `SessionGuard` validated for this request, GraphQL operation or
 * WebSocket message.
 *
 * @example
 * @Get('orders')
 * list(@CurrentUser() user: SessionUser) {}
 */
export const CurrentUser = createParamDecorator(
  (_data: unknown, context: ExecutionContext): SessionUser | undefined => {
    const session = sessionOf(context);
    return session && { id: session.userId, username: session.username, roles: session.roles };
  },
);
