import { CustomDecorator } from '@nestjs/common';
import { Reflector } from '@nestjs/core';

const RolesMetadata = Reflector.createDecorator<string[]>();

/**
 * Roles a route requires: any one of them is enough. On a handler it overrides its
 * controller's. `SessionGuard` reads it with `reflector.getAllAndOverride(Roles, …)`.
 *
 * @example
 * @Roles('customer', 'admin')
 * @Get('orders')
 * list() {}
 */
export const Roles: ((...roles: string[]) => CustomDecorator) & { KEY: string } = Object.assign(
  (...roles: string[]) => RolesMetadata(roles),
  { KEY: RolesMetadata.KEY },
);
