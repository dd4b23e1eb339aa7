import { SetMetadata } from '@nestjs/common';

export const IS_PUBLIC_KEY = 'cloakroom:public';

/**
 * Lets a route (or a whole controller) through `SessionGuard` without a session.
 *
 * @example
 * @Public()
 * @Get('products')
 * list() {}
 */
export const Public = () => SetMetadata(IS_PUBLIC_KEY, true);
