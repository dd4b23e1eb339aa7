import { Injectable, OnModuleDestroy } from '@nestjs/common';
import { ClientProxy, ClientProxyFactory, Transport } from '@nestjs/microservices';
import { firstValueFrom, timeout } from 'rxjs';

import type { SessionRemoteConnection } from '../../config/session-options.interface';
import type { SessionStoreSettings } from '../../config/session.config';
import { SessionOperationNotServedError } from '../../errors/session-operation-not-served.error';
import { SessionStoreUnavailableError } from '../../errors/session-store-unavailable.error';
import { SessionRpc } from '../../session.constants';
import type { Session } from '../../session.types';
import type { SessionRef } from '../../token/session.token';
import type { CreatedSession, SessionStore } from '../session-store.interface';

/** Larger answers are refused: a session is a few hundred bytes, its attributes a few KiB. */
const MAX_ANSWER_SIZE = 64 * 1024;

/**
 * A `SessionStore` for a service that must not touch Redis: it asks the auth service's session
 * RPC (`SessionRpcModule`) over mutual TLS. It is a validator: it validates a session by the
 * token the client presented, patches app attributes of that same session, reads a session by
 * id (to check a session assertion: the capability table decides who may), and nothing else —
 * auth creates, rotates, lists and revokes sessions in-process, and the other operations reject
 * with `SessionOperationNotServedError`. Auth hashes the token itself: a session id, public by
 * design, yields nothing here.
 *
 * @example
 * SessionModule.forRoot({
 *   remote: { host: 'auth', port: 4001, tls: { ca, cert, key } },
 * })
 */
@Injectable()
export class RemoteSessionStore implements SessionStore, OnModuleDestroy {
  private readonly client: ClientProxy;

  constructor(
    connection: SessionRemoteConnection,
    private readonly settings: Pick<SessionStoreSettings, 'storeTimeoutMs'>,
  ) {
    const { host, port, tls } = connection;
    if (!tls?.ca || !tls.cert || !tls.key) {
      // Tokens cross this connection: never in plaintext, never to an unverified server.
      throw new Error('RemoteSessionStore: `remote.tls` needs `ca`, `cert` and `key`');
    }
    this.client = ClientProxyFactory.create({
      transport: Transport.TCP,
      options: {
        host,
        port,
        maxBufferSize: MAX_ANSWER_SIZE,
        tlsOptions: {
          ca: tls.ca,
          cert: tls.cert,
          key: tls.key,
          servername: tls.servername,
          minVersion: 'TLSv1.3',
        },
      },
    });
  }

  async onModuleDestroy(): Promise<void> {
    await this.client.close();
  }

  /** Needs a ref parsed from a token (`SessionService.validate(token)` gives one). */
  validate(ref: SessionRef): Promise<Session | null> {
    if (!ref.token) {
      return notServed('validate by id', 'validation needs the token');
    }
    return this.send(SessionRpc.validate, { token: ref.token });
  }

  /** Needs a ref parsed from a token: a service may only write the session it was shown. */
  patch(ref: SessionRef, attributes: Record<string, unknown>): Promise<boolean> {
    if (!ref.token) {
      return notServed('patch by id', 'pass the token the client presented');
    }
    // JSON drops undefined values, which mean "remove": send removals as a list.
    const remove = Object.keys(attributes).filter((name) => attributes[name] === undefined);
    return this.send(SessionRpc.patch, { token: ref.token, attributes, remove });
  }

  create(): Promise<CreatedSession | null> {
    return notServed('create');
  }

  /**
   * Reads a session by id without touching it: what a receiver of a session assertion checks
   * it against. Auth serves it only to callers its capability table lets `get`.
   */
  get(ref: SessionRef): Promise<Session | null> {
    return this.send(SessionRpc.get, { id: ref.id });
  }

  revoke(): Promise<boolean> {
    return notServed('revoke');
  }

  list(): Promise<Session[]> {
    return notServed('list');
  }

  revokeAll(): Promise<number> {
    return notServed('revokeAll');
  }

  setRoles(): Promise<number> {
    return notServed('setRoles');
  }

  generation(): Promise<string> {
    return notServed('generation');
  }

  rotate(): Promise<Session | null> {
    return notServed('rotate');
  }

  revokeEverything(): Promise<{ notBefore: number; revoked: number }> {
    return notServed('revokeEverything');
  }

  /**
   * Nothing to watch here: the auth service applies the watermark to every validation it
   * answers for this store.
   */
  watchNotBefore(): () => void {
    return () => undefined;
  }

  /** The auth service checks its own Redis; here, it only has to answer. */
  verify(): Promise<void> {
    return this.ping();
  }

  async ping(): Promise<void> {
    await this.send(SessionRpc.ping, {});
  }

  private async send<T>(pattern: string, payload: object): Promise<T> {
    try {
      return await firstValueFrom(
        this.client.send<T>(pattern, payload).pipe(timeout(this.settings.storeTimeoutMs)),
      );
    } catch (error) {
      if (isRefusal(error)) {
        throw new SessionOperationNotServedError(pattern, error.message);
      }
      throw new SessionStoreUnavailableError(error);
    }
  }
}

/**
 * What `SessionRpcController` answers to a call this service's capabilities do not allow:
 * `{ refused: true, message }`, or the `RpcException` itself when the server's exception
 * filter passes RPC errors through (`{ error: { refused: true }, message }`).
 */
function isRefusal(error: unknown): error is { message: string } {
  if (typeof error !== 'object' || error === null) {
    return false;
  }
  const { refused, error: inner } = error as { refused?: unknown; error?: { refused?: unknown } };
  return refused === true || inner?.refused === true;
}

function notServed<T>(operation: string, reason?: string): Promise<T> {
  return Promise.reject(new SessionOperationNotServedError(operation, reason));
}
