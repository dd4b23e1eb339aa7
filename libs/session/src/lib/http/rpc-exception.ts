import type { RpcException } from '@nestjs/microservices';

type RpcExceptionClass = typeof RpcException;

let loaded: RpcExceptionClass | null | undefined;

/**
 * `RpcException` of `@nestjs/microservices`, loaded on first use; null where that optional
 * peer is not installed (then no microservice message can reach the guard either).
 */
export function rpcExceptionClass(): RpcExceptionClass | null {
  if (loaded === undefined) {
    try {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      loaded = (require('@nestjs/microservices') as { RpcException: RpcExceptionClass })
        .RpcException;
    } catch {
      loaded = null;
    }
  }
  return loaded;
}
