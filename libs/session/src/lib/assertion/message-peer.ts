import { TLSSocket } from 'node:tls';

import type { ExecutionContext } from '@nestjs/common';

/**
 * The peer of each verified connection. `getPeerCertificate()` builds a fresh object from the
 * certificate on every call (a quarter of the session RPC's CPU per validation when it ran per
 * message). It is read once per connection, and renegotiation, the only way a connection could
 * present another certificate (TLS 1.2; `sessionRpcTransport` allows 1.3 only), is turned off
 * for it.
 */
const peers = new WeakMap<TLSSocket, string | null>();

/**
 * The common name of a TLS connection's verified client certificate, read once per connection;
 * null when it has none, or one without a single common name.
 *
 * @example
 * const caller = tlsPeerName(socket) ?? 'anonymous';
 */
export function tlsPeerName(socket: TLSSocket): string | null {
  let peer = peers.get(socket);
  if (peer === undefined) {
    socket.disableRenegotiation();
    // A subject with several common names has an array here: no one name is the peer's.
    const name = socket.authorized ? socket.getPeerCertificate().subject?.CN : undefined;
    peer = typeof name === 'string' && name !== '' ? name : null;
    peers.set(socket, peer);
  }
  return peer;
}

/**
 * Who sent a microservice message, as its transport authenticated them: over TLS (Nest's TCP
 * transport with `tlsOptions`, `sessionRpcTransport`), the common name of the connection's
 * verified client certificate, or null without one; undefined when the transport names no
 * sender (plain TCP, another transport). Read without importing `@nestjs/microservices`: a
 * `TcpContext` holds the connection as `getSocketRef().netSocket`.
 *
 * @example
 * const peer = messagePeerOf(context); // 'orders'
 */
export function messagePeerOf(context: ExecutionContext): string | null | undefined {
  const rpc = context
    .switchToRpc()
    .getContext<{ getSocketRef?: () => { netSocket?: unknown } | undefined } | undefined>();
  const socket =
    typeof rpc === 'object' && rpc !== null && typeof rpc.getSocketRef === 'function'
      ? rpc.getSocketRef()?.netSocket
      : undefined;
  return socket instanceof TLSSocket ? tlsPeerName(socket) : undefined;
}
