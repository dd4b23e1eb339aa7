import type { Observable } from 'rxjs';

import { SESSION_ASSERTION_FIELD } from '../session.constants';
import type { Session } from '../session.types';

/**
 * What `SessionClient` needs of a message client: `send` and `emit`, as a `ClientProxy` of
 * `@nestjs/microservices` has them (named here so that the library's types do not need that
 * optional peer).
 *
 * @example
 * const proxy: SessionMessageProxy = ClientProxyFactory.create({ transport: Transport.TCP });
 * const catalog = assertions.client(proxy, 'catalog');
 */
export interface SessionMessageProxy {
  send<Result = unknown, Input = unknown>(pattern: unknown, data: Input): Observable<Result>;
  emit<Result = unknown, Input = unknown>(pattern: unknown, data: Input): Observable<Result>;
}

/**
 * A `ClientProxy` whose messages act for a session: each carries a fresh session assertion
 * for one audience in the payload's `SESSION_ASSERTION_FIELD`, which the receiver's
 * `SessionGuard` verifies and removes before the handler (and its validation pipe) sees the
 * payload. Made by `SessionAssertions.client()`.
 *
 * @example
 * const prices = await firstValueFrom(catalog.send('catalog.prices', { skus }, session));
 */
export class SessionClient<Proxy extends SessionMessageProxy = SessionMessageProxy> {
  constructor(
    /** The underlying proxy, for messages that act for no session. */
    readonly proxy: Proxy,
    private readonly assert: (session: Session) => string,
  ) {}

  /** `proxy.send`, on behalf of `session`. The payload must be a plain object. */
  send<Result, Input extends object = object>(
    pattern: unknown,
    data: Input,
    session: Session,
  ): Observable<Result> {
    return this.proxy.send<Result>(pattern, this.carry(data, session));
  }

  /** `proxy.emit` (an event), on behalf of `session`. The payload must be a plain object. */
  emit<Result = unknown, Input extends object = object>(
    pattern: unknown,
    data: Input,
    session: Session,
  ): Observable<Result> {
    return this.proxy.emit<Result>(pattern, this.carry(data, session));
  }

  private carry(data: object, session: Session): object {
    if (typeof data !== 'object' || data === null || Array.isArray(data)) {
      // An array or a scalar has nowhere to carry the assertion: wrap it in an object.
      throw new TypeError('SessionClient: a message payload must be a plain object');
    }
    return { ...data, [SESSION_ASSERTION_FIELD]: this.assert(session) };
  }
}
