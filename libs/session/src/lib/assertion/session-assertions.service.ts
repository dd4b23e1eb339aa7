import { Inject, Injectable, Optional } from '@nestjs/common';

import type { SessionConfig } from '../config/session.config';
import { SessionAssertionRefusedError } from '../errors/session-assertion-refused.error';
import { NotBeforeWatermark } from '../revocation/not-before.watermark';
import { SESSION_CONFIG } from '../session.constants';
import type { Session } from '../session.types';
import { SessionStore } from '../store/session-store.interface';
import { parseSessionId } from '../token/session.token';
import {
  decodeAssertion,
  encodeAssertion,
  SessionAssertionClaims,
  signatureMatches,
} from './session-assertion.codec';
import { MAX_ASSERTION_TTL_SECONDS, SessionAssertionSettings } from './session-assertion.settings';
import { SessionClient, SessionMessageProxy } from './session-client';

/**
 * Signs and verifies session assertions: how one service tells another which live session a
 * microservice message acts for (`SessionAssertionOptions`). `client()` wraps a `ClientProxy`
 * so that every message carries one; `SessionGuard` verifies it on `@MessagePattern` and
 * `@EventPattern` handlers.
 *
 * An assertion is accepted when its key is trusted for its issuer, its signature holds, this
 * service is its audience, it is within its lifetime, and — checked in the session store on
 * every message — its session is still alive and still the user's. A revocation therefore
 * stops messages at once, however fresh their assertion; the receiver's handlers see the
 * session as the store has it now (roles changed since the assertion was signed included).
 *
 * @example
 * const catalog = assertions.client(catalogProxy, 'catalog');
 * await firstValueFrom(catalog.send('catalog.prices', { skus }, session));
 */
@Injectable()
export class SessionAssertions {
  private readonly service: string | null;
  private readonly signingKey: SessionAssertionSettings['signingKey'];
  private readonly trusted: SessionAssertionSettings['trusted'];
  private readonly ttlMs: number;
  private readonly skewMs: number;
  private readonly requirePeer: boolean;

  constructor(
    @Inject(SESSION_CONFIG) config: SessionConfig,
    @Inject(SessionStore) private readonly store: SessionStore,
    @Optional()
    @Inject(NotBeforeWatermark)
    private readonly watermark: NotBeforeWatermark | null = null,
  ) {
    const { assertions } = config;
    this.service = assertions.service;
    this.signingKey = assertions.signingKey;
    this.trusted = assertions.trusted;
    this.ttlMs = assertions.ttlMs;
    this.skewMs = assertions.skewMs;
    this.requirePeer = assertions.requirePeer;
  }

  /** Whether this service accepts assertions at all (it trusts at least one key). */
  get accepting(): boolean {
    return this.trusted.size > 0;
  }

  /** An assertion for `session`, for the service `audience` only. */
  sign(session: Session, audience: string): string {
    if (!this.signingKey || !this.service) {
      throw new Error('SessionAssertions: no `assertions.signingKey` configured');
    }
    const unknown = (['id', 'userId', 'username'] as const).filter(
      (field) => typeof session[field] !== 'string' || session[field] === '',
    );
    if (unknown.length > 0) {
      // A remote service's capability grants it only some fields: without these, the receiver
      // would refuse every assertion as malformed.
      throw new Error(`SessionAssertions: the session has no ${unknown.join(', ')} to assert`);
    }
    const now = Date.now();
    // The assertion never outlives the session as this service last saw it. A remote service
    // whose capability grants no times knows no expiry: the ttl alone bounds it then (the
    // receiver checks the live session anyway), where Math.min would make it NaN, refused.
    // The session's expiry is the store's clock and the assertion's times this host's (held to
    // the receiver's within `clockSkew`): what the session has left is counted on the store's.
    const exp = Number.isSafeInteger(session.expiresAt)
      ? now + Math.min(this.ttlMs, session.expiresAt - (this.store.now ? this.store.now() : now))
      : now + this.ttlMs;
    const claims: SessionAssertionClaims = {
      kid: this.signingKey.kid,
      iss: this.service,
      aud: audience,
      sid: session.id,
      sub: session.userId,
      name: session.username,
      roles: session.roles ?? [],
      iat: now,
      exp,
    };
    return encodeAssertion(claims, this.signingKey.key);
  }

  /**
   * The live session an assertion names, as the store has it now. Throws
   * `SessionAssertionRefusedError` (why, in `reason`), or `SessionStoreUnavailableError` when
   * the store cannot say whether the session lives: never a pass without the check.
   *
   * `peer` is who sent it, as the transport authenticated them (`SessionGuard` reads the common
   * name of a TLS connection's verified client certificate): a string must be the assertion's
   * issuer, null (a connection that names no one) is refused; undefined (a transport that
   * authenticates no sender) is refused only with `requirePeer`. An assertion is a bearer
   * credential for its lifetime: without this, any service that saw one could replay it from
   * its own connection, under its own certificate, as the issuer.
   *
   * @example
   * const session = await assertions.verify(payload.$session, 'orders');
   */
  async verify(value: unknown, peer?: string | null): Promise<Session> {
    const { claims, signed, signature } = decodeAssertion(value);
    const key = this.trusted.get(claims.kid);
    if (!key || key.issuer !== claims.iss) {
      throw new SessionAssertionRefusedError('unknown-key');
    }
    // Before the signature: a caller replaying what it captured costs no verification.
    if (peer === undefined ? this.requirePeer : peer !== claims.iss) {
      throw new SessionAssertionRefusedError('wrong-peer');
    }
    if (!signatureMatches(signed, signature, key.key)) {
      throw new SessionAssertionRefusedError('bad-signature');
    }
    if (claims.aud !== this.service) {
      throw new SessionAssertionRefusedError('wrong-audience');
    }
    const now = Date.now();
    // An `exp` before its `iat` is no lifetime: no signer of ours makes one.
    if (
      claims.iat > now + this.skewMs ||
      claims.exp < claims.iat ||
      claims.exp - claims.iat > MAX_ASSERTION_TTL_SECONDS * 1000
    ) {
      throw new SessionAssertionRefusedError('bad-lifetime');
    }
    if (now > claims.exp + this.skewMs) {
      throw new SessionAssertionRefusedError('expired');
    }
    const ref = parseSessionId(claims.sid);
    const session = ref && (await this.store.get(ref));
    if (!session || session.userId !== claims.sub || this.watermark?.outdates(session)) {
      throw new SessionAssertionRefusedError('session-ended');
    }
    return session;
  }

  /**
   * `proxy`, with a session assertion for `audience` added to every message it sends.
   *
   * @example
   * this.catalog = assertions.client(proxy, 'catalog');
   */
  client<Proxy extends SessionMessageProxy>(proxy: Proxy, audience: string): SessionClient<Proxy> {
    return new SessionClient(proxy, (session) => this.sign(session, audience));
  }
}
