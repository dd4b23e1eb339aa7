/**
 * A call's connection closed before its answer came: the server may not have read the call
 * (a frame that crossed a draining server's end of the connection is never executed), or it
 * may have executed it and its answer was lost with the connection. Only a call that is safe
 * to run twice should be sent again for it.
 *
 * @example
 * const again = (error: unknown) =>
 *   error instanceof RpcConnectionClosedError ? of(0) : throwError(() => error);
 * client.send('catalog.prices', { skus }).pipe(retry({ count: 1, delay: again }));
 */
export class RpcConnectionClosedError extends Error {
  constructor() {
    super('Connection closed before the answer');
    this.name = 'RpcConnectionClosedError';
  }
}
