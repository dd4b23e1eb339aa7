/**
 * `@cloakroom/session/rpc`: the session RPC, for the service that serves remote mode (auth:
 * `SessionRpcModule`, `sessionRpcTransport`) and for reading its limits. Apart from the main
 * entry because it needs `@nestjs/microservices`, an optional peer that a service in direct
 * mode does not install. (A service in remote mode only sets `remote` in `SessionModule`.)
 */
export { RemoteSessionStore } from './lib/store/remote/remote-session.store';
export { ReconnectingClientTCP } from './lib/store/remote/reconnecting-client-tcp';
export { RpcConnectionClosedError } from './lib/errors/rpc-connection-closed.error';
export {
  reportRefusedHandshakes,
  SESSION_RPC_DRAIN_TIMEOUT,
  SESSION_RPC_HANDSHAKE_TIMEOUT,
  SESSION_RPC_HANDSHAKES_PER_ADDRESS,
  SESSION_RPC_IDLE_TIMEOUT,
  SESSION_RPC_INCOMPLETE_FRAME_TIMEOUT,
  SESSION_RPC_MAX_HANDSHAKES,
  SESSION_RPC_MAX_FRAME,
  SESSION_RPC_MAX_IN_FLIGHT_PER_CALLER,
  SessionRpcModule,
  type SessionRpcServerOptions,
  sessionRpcTransport,
} from './lib/store/remote/session-rpc.module';
export { type HandshakeBudgetOptions } from './lib/store/remote/handshake-budget';
export {
  type SessionRpcCall,
  type SessionRpcCapabilities,
  type SessionRpcCapability,
  type SessionRpcOptions,
} from './lib/store/remote/session-rpc.capabilities';
