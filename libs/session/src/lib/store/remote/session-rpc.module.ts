import { DynamicModule, INestMicroservice, Logger, Module } from '@nestjs/common';
import { TcpOptions, Transport } from '@nestjs/microservices';

import { SESSION_RPC_OPTIONS } from '../../session.constants';
import type { SessionRpcOptions } from './session-rpc.capabilities';
import { SessionRpcController } from './session-rpc.controller';

/** Frames larger than this drop the connection: a validation is a few hundred bytes. */
export const SESSION_RPC_MAX_FRAME = 64 * 1024;

/** Where the session RPC listens, and its mutual TLS (PEM contents, not paths). */
export interface SessionRpcServerOptions {
  host: string;
  port: number;
  tls: {
    /** The CA that signs the callers' client certificates. */
    ca: string | Buffer;
    /** Auth's server certificate and key. */
    cert: string | Buffer;
    key: string | Buffer;
  };
  /** Largest frame accepted, in characters; default `SESSION_RPC_MAX_FRAME`. */
  maxFrameSize?: number;
}

/**
 * Serves the session RPC (`SessionRpcController`) with a capability table. Import it in the
 * auth service, next to a `SessionModule` with `redis`, and listen with `sessionRpcTransport`.
 *
 * @example
 * @Module({
 *   imports: [SessionRpcModule.register({ capabilities: { catalog: { calls: ['validate'], fields } } })],
 * })
 * export class SessionsModule {}
 */
@Module({})
export class SessionRpcModule {
  static register(options: SessionRpcOptions): DynamicModule {
    return {
      module: SessionRpcModule,
      controllers: [SessionRpcController],
      providers: [{ provide: SESSION_RPC_OPTIONS, useValue: options }],
    };
  }
}

/**
 * Nest TCP transport options for the session RPC: TLS 1.3, a client certificate signed by the
 * deployment's CA required of every caller (no certificate, or another CA's: the handshake
 * fails before any frame is read), and a frame size limit.
 *
 * @example
 * app.connectMicroservice(sessionRpcTransport({ host, port, tls: { ca, cert, key } }));
 */
export function sessionRpcTransport(options: SessionRpcServerOptions): TcpOptions {
  const { host, port, tls } = options;
  return {
    transport: Transport.TCP,
    options: {
      host,
      port,
      maxBufferSize: options.maxFrameSize ?? SESSION_RPC_MAX_FRAME,
      tlsOptions: {
        ca: tls.ca,
        cert: tls.cert,
        key: tls.key,
        requestCert: true,
        rejectUnauthorized: true,
        minVersion: 'TLSv1.3',
      },
    },
  };
}

/**
 * Logs connections whose TLS handshake failed (no client certificate, another CA's, not TLS
 * at all), once per address and reason.
 *
 * @example
 * reportRefusedHandshakes(app.connectMicroservice(sessionRpcTransport(options)));
 */
export function reportRefusedHandshakes(
  microservice: INestMicroservice,
  logger = new Logger('SessionRpc'),
): INestMicroservice {
  const reported = new Set<string>();
  microservice.on(
    'tlsClientError',
    (error: Error & { code?: string }, socket: { remoteAddress?: string }) => {
      const key = `${socket.remoteAddress ?? 'unknown'} ${error.code ?? error.message}`;
      // Bounded: a flood from many addresses must not grow memory without end.
      if (reported.has(key) || reported.size >= 1000) return;
      reported.add(key);
      logger.warn(`Refused a connection from ${key} (not logged again)`);
    },
  );
  return microservice;
}
