import { SetMetadata } from '@nestjs/common';

/**
 * The metadata key `@Public()` sets, for other guards and interceptors that treat public
 * routes apart (`SessionGuard` also weighs `@Roles()` and `@RequireRecentAuth()` against it).
 *
 * @example
 * const isPublic = reflector.get<boolean | undefined>(IS_PUBLIC_KEY, context.getHandler());
 */
export const IS_PUBLIC_KEY = 'cloakroom:public';

/**
 * Lets a route (or a whole controller) through `SessionGuard` without a session. A handler's
 * own `@Roles()` or `@RequireRecentAuth()` overrides its controller's `@Public()`; on the same
 * handler or class, they win over it: a route that names a requirement always needs a session.
 *
 * @example
 * @Public()
 * @Get('products')
 * list() {}
 */
export const Public = () => SetMetadata(IS_PUBLIC_KEY, true);
