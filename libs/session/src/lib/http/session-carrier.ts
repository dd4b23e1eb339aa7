import type { ExecutionContext } from '@nestjs/common';

import type { SessionRequest } from './session-request.interface';

/**
 * The HTTP request of a GraphQL resolver's context, read without importing `@nestjs/graphql`:
 * the context object is the resolver's third argument, and the Apollo and Mercurius drivers
 * both put the request on it as `req`. Undefined when there is none (a subscription over a
 * WebSocket transport, a context factory that dropped it).
 */
export function graphqlRequestOf<T = unknown>(context: ExecutionContext): T | undefined {
  const req = context.getArgByIndex<{ req?: unknown } | undefined>(2)?.req;
  // Only a request with headers is one: a subscription's context may hold another `req`
  // (graphql-ws over Apollo: no headers), which the guard must refuse, not crash on.
  const headers = (req as { headers?: unknown } | null | undefined)?.headers;
  return typeof headers === 'object' && headers !== null ? (req as T) : undefined;
}

/**
 * The context object of a microservice message (`TcpContext`, `NatsContext`, ...; one per
 * message), on which the guard puts the session its assertion named.
 */
export function rpcCarrierOf(context: ExecutionContext): SessionRequest | undefined {
  const carrier = context.switchToRpc().getContext<SessionRequest | undefined>();
  return typeof carrier === 'object' && carrier !== null ? carrier : undefined;
}

/**
 * What carries the session in this context: the request (HTTP, GraphQL), the socket
 * (WebSocket message) or the message's context (microservice message).
 */
export function sessionCarrierOf(context: ExecutionContext): SessionRequest | undefined {
  switch (context.getType<string>()) {
    case 'http':
      return context.switchToHttp().getRequest<SessionRequest>();
    case 'graphql':
      return graphqlRequestOf<SessionRequest>(context);
    case 'ws':
      return context.switchToWs().getClient<SessionRequest>();
    case 'rpc':
      return rpcCarrierOf(context);
    default:
      return undefined;
  }
}
