import { CustomDecorator } from '@nestjs/common';
import { Reflector } from '@nestjs/core';

const RolesMetadata = Reflector.createDecorator<string[]>();

/**
 * Roles a route requires: any one of them is enough. On a handler it overrides its
 * controller's, `@Public()` on the controller included: the route then needs a session.
 * `SessionGuard` reads it with `reflector.getAllAndOverride(Roles, …)`. At least one role:
 * `@Roles()` alone would read as "nobody" yet let every session in, so it throws.
 *
 * @example
 * @Roles('customer', 'admin')
 * @Get('orders')
 * list() {}
 */
export const Roles: ((...roles: string[]) => CustomDecorator) & { KEY: string } = Object.assign(
  (...roles: string[]) => {
    if (roles.length === 0 || roles.some((role) => typeof role !== 'string' || role === '')) {
      throw new TypeError('@Roles(...roles): name at least one role, each a non-empty string');
    }
    return RolesMetadata(roles);
  },
  { KEY: RolesMetadata.KEY },
);
