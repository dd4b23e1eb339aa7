import { Injectable, OnModuleDestroy } from '@nestjs/common';
import { NO_MESSAGE_HANDLER } from '@nestjs/microservices/constants';
import { firstValueFrom, of, retry, throwError, timeout } from 'rxjs';

import type { SessionRemoteConnection } from '../../config/session-options.interface';
import type { SessionStoreSettings } from '../../config/session.config';
import { RpcConnectionClosedError } from '../../errors/rpc-connection-closed.error';
import { SessionAttributesTooLargeError } from '../../errors/session-attributes-too-large.error';
import { SessionOperationNotServedError } from '../../errors/session-operation-not-served.error';
import { SessionStoreUnavailableError } from '../../errors/session-store-unavailable.error';
import { SessionRpc } from '../../session.constants';
import type { Session } from '../../session.types';
import type { SessionRef } from '../../token/session.token';
import type { CreatedSession, SessionStore } from '../session-store.interface';
import { StoreClock } from '../store-clock';
import { ReconnectingClientTCP } from './reconnecting-client-tcp';

/**
 * Validations asked within one turn of the event loop travel in one message, at most this many
 * (auth refuses more: `SESSION_RPC_MAX_BATCH`).
 */
export const SESSION_RPC_MAX_BATCH = 16;

/**
 * Larger answers are refused: a session is a few hundred bytes, its attributes a few KiB, and
 * an answer holds at most `SESSION_RPC_MAX_BATCH` of them.
 */
const MAX_ANSWER_SIZE = SESSION_RPC_MAX_BATCH * 64 * 1024;

/**
 * The calls sent again, once and within the same store timeout, when their connection closed
 * before their answer (`RpcConnectionClosedError`): the reads, which may run twice (a second
 * validation at most slides the idle timeout again). A draining auth leaves that to a call
 * whose frame crossed its end of the connection (`SessionRpcServer.drain`); the fresh
 * connection reaches another instance of auth, if one is up. A patch is not sent again: its
 * answer may have been lost after auth wrote it, and a second write could undo another
 * writer's change made in between.
 */
const SENT_AGAIN_ON_CLOSE: ReadonlySet<string> = new Set([
  SessionRpc.validate,
  SessionRpc.validateMany,
  SessionRpc.get,
  SessionRpc.ping,
]);

/** Those waiting for one token's validation. */
type Waiters = { resolve: (session: Session | null) => void; reject: (error: unknown) => void }[];

/**
 * A `SessionStore` for a service that must not touch Redis: it asks the auth service's session
 * RPC (`SessionRpcModule`) over mutual TLS. It is a validator: it validates a session by the
 * token the client presented, patches app attributes of that same session, reads a session by
 * id (to check a session assertion: the capability table decides who may), and nothing else —
 * auth creates, rotates, lists and revokes sessions in-process, and the other operations reject
 * with `SessionOperationNotServedError`. Auth hashes the token itself: a session id, public by
 * design, yields nothing here.
 *
 * Validations asked in the same turn of the event loop (the requests one socket read brought)
 * go to auth as one `validate-many` message, one token each however many requests carry it;
 * against an auth that does not serve it yet (a rolling deploy), each goes on its own.
 *
 * @example
 * SessionModule.forRoot({
 *   remote: { host: 'auth', port: 4001, tls: { ca, cert, key } },
 * })
 */
@Injectable()
export class RemoteSessionStore implements SessionStore, OnModuleDestroy {
  private readonly client: ReconnectingClientTCP;
  /** Validations waiting for the next batch, by token. */
  private queued = new Map<string, Waiters>();
  /** False when `batchValidations` is, or once auth answered that it has no handler for it. */
  private batchesServed: boolean;
  /** The auth service's clock (its Redis's), read from `ping` answers: see `StoreClock`. */
  private readonly clock: StoreClock;
  /** Set at shutdown: no call connects again after it. */
  private closed = false;

  constructor(
    connection: SessionRemoteConnection,
    private readonly settings: Pick<SessionStoreSettings, 'storeTimeoutMs'>,
  ) {
    const { host, port, tls, batchValidations = true } = connection;
    this.batchesServed = batchValidations;
    if (!tls?.ca || !tls.cert || !tls.key) {
      // Tokens cross this connection: never in plaintext, never to an unverified server.
      throw new Error('RemoteSessionStore: `remote.tls` needs `ca`, `cert` and `key`');
    }
    // A call that times out on a connection silent for twice the store timeout (at least 1 s)
    // drops it: auth's host died, or a partition cut it off (see `ReconnectingClientTCP`).
    this.client = new ReconnectingClientTCP(
      {
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
      { silentMs: Math.max(2 * settings.storeTimeoutMs, 1000), name: 'The auth service' },
    );
    // An auth service of an older release answers `ping` with `true`: no clock, the local one.
    this.clock = new StoreClock(async () => {
      const answer = await this.send<unknown>(SessionRpc.ping, {});
      return typeof answer === 'number' ? answer : null;
    });
  }

  async onModuleDestroy(): Promise<void> {
    this.closed = true;
    this.clock.stop();
    await this.client.close();
  }

  /** The auth service's clock, epoch ms, as this process sees it: see `StoreClock`. */
  now(): number {
    return this.clock.now();
  }

  /** Needs a ref parsed from a token (`SessionService.validate(token)` gives one). */
  validate(ref: SessionRef): Promise<Session | null> {
    const { token } = ref;
    if (!token) {
      return notServed('validate by id', 'validation needs the token');
    }
    if (!this.batchesServed) {
      return this.send(SessionRpc.validate, { token });
    }
    return new Promise((resolve, reject) => {
      const waiters = this.queued.get(token);
      if (waiters) {
        waiters.push({ resolve, reject });
        return;
      }
      if (this.queued.size === 0) {
        // The first of this turn: flush after every callback of this poll phase, i.e. the
        // requests read in this turn.
        setImmediate(() => this.flush());
      }
      this.queued.set(token, [{ resolve, reject }]);
    });
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

  revoke(): Promise<string | null> {
    return notServed('revoke');
  }

  list(): Promise<Session[]> {
    return notServed('list');
  }

  revokeAll(): Promise<{ revoked: number; kept: string | null }> {
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

  revokeEverything(): Promise<{ notBefore: number; revoked: number; kept: string | null }> {
    return notServed('revokeEverything');
  }

  /**
   * Nothing to watch here: the auth service applies the watermark to every validation it
   * answers for this store.
   */
  watchNotBefore(): () => void {
    return () => undefined;
  }

  /**
   * The auth service checks its own Redis; here, it only has to answer. Its clock is read
   * then (the services call this at start-up), and every minute after.
   */
  async verify(): Promise<void> {
    await this.ping();
    await this.clock.measure();
  }

  async ping(): Promise<void> {
    await this.send(SessionRpc.ping, {});
  }

  private flush(): void {
    const tokens = [...this.queued.keys()];
    const waiting = this.queued;
    this.queued = new Map();
    for (let start = 0; start < tokens.length; start += SESSION_RPC_MAX_BATCH) {
      const batch = tokens.slice(start, start + SESSION_RPC_MAX_BATCH);
      const answers =
        batch.length === 1 || !this.batchesServed
          ? batch.map((token) => this.send<Session | null>(SessionRpc.validate, { token }))
          : this.validateMany(batch);
      batch.forEach((token, index) => {
        for (const { resolve, reject } of waiting.get(token) ?? []) {
          answers[index].then(resolve, reject);
        }
      });
    }
  }

  /** One message for several tokens; one answer per token, in their order. */
  private validateMany(tokens: string[]): Promise<Session | null>[] {
    const answers = this.send<unknown>(SessionRpc.validateMany, { tokens }).then(
      (list) => {
        if (!Array.isArray(list) || list.length !== tokens.length) {
          throw new SessionStoreUnavailableError(new Error('malformed validate-many answer'));
        }
        return list as (Session | null)[];
      },
      (error: unknown) => {
        if (!(error instanceof SessionOperationNotServedError)) {
          throw error;
        }
        // An auth of an earlier release, or a caller refused validation: ask one by one, which
        // answers either way.
        this.batchesServed = false;
        return Promise.all(
          tokens.map((token) => this.send<Session | null>(SessionRpc.validate, { token })),
        );
      },
    );
    return tokens.map((_, index) => answers.then((list) => list[index]));
  }

  private async send<T>(pattern: string, payload: object): Promise<T> {
    const again = (error: unknown) =>
      error instanceof RpcConnectionClosedError && SENT_AGAIN_ON_CLOSE.has(pattern) && !this.closed
        ? of(true)
        : throwError(() => error);
    try {
      return await firstValueFrom(
        this.client
          .send<T>(pattern, payload)
          .pipe(retry({ count: 1, delay: again }), timeout(this.settings.storeTimeoutMs)),
      );
    } catch (error) {
      if (isRefusal(error, 'tooLarge')) {
        throw new SessionAttributesTooLargeError();
      }
      if (isRefusal(error)) {
        throw new SessionOperationNotServedError(pattern, error.message);
      }
      if (error === NO_MESSAGE_HANDLER) {
        throw new SessionOperationNotServedError(pattern, 'the auth service does not serve it');
      }
      throw new SessionStoreUnavailableError(error);
    }
  }
}

/**
 * What `SessionRpcController` answers to a call this service's capabilities do not allow:
 * `{ refused: true, message }`, or the `RpcException` itself when the server's exception
 * filter passes RPC errors through (`{ error: { refused: true }, message }`). With `flag`, a
 * refusal that also carries it (`tooLarge`: a patch over the attribute limits).
 */
function isRefusal(error: unknown, flag = 'refused'): error is { message: string } {
  if (typeof error !== 'object' || error === null) {
    return false;
  }
  const answer = error as Record<string, unknown> & { error?: Record<string, unknown> };
  const refusal = answer['refused'] === true ? answer : answer.error;
  return refusal?.['refused'] === true && refusal[flag] === true;
}

function notServed<T>(operation: string, reason?: string): Promise<T> {
  return Promise.reject(new SessionOperationNotServedError(operation, reason));
}
