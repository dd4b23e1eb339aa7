import type { ExecutionContext } from '@nestjs/common';

import type { SessionRequest } from './session-request.interface';

/**
 * The HTTP request of a GraphQL resolver's context, read without importing `@nestjs/graphql`:
 * the context object is the resolver's third argument, and the Apollo and Mercurius drivers
 * both put the request on it as `req`. Undefined when there is none (a subscription over a
 * WebSocket transport, a context factory that dropped it).
 */
export function graphqlRequestOf<T = unknown>(context: ExecutionContext): T | undefined {
  return context.getArgByIndex<{ req?: T } | undefined>(2)?.req;
}

/**
 * What carries the session in this context: the request (HTTP, GraphQL) or the socket
 * (WebSocket message).
 */
export function sessionCarrierOf(context: ExecutionContext): SessionRequest | undefined {
  switch (context.getType<string>()) {
    case 'http':
      return context.switchToHttp().getRequest<SessionRequest>();
    case 'graphql':
      return graphqlRequestOf<SessionRequest>(context);
    case 'ws':
      return context.switchToWs().getClient<SessionRequest>();
    default:
      return undefined;
  }
}
