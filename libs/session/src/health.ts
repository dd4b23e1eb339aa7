/**
 * `@cloakroom/session/health`: the session store's `@nestjs/terminus` health indicator. Apart
 * from the main entry because it needs `@nestjs/terminus`, an optional peer.
 */
export { SessionStoreHealthIndicator } from './lib/health/session-store.health';
