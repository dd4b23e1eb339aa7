import { TLSSocket } from 'node:tls';
import { Controller, Inject, Logger, Optional } from '@nestjs/common';
import { Ctx, MessagePattern, Payload, RpcException, TcpContext } from '@nestjs/microservices';

import { tlsPeerName } from '../../assertion/message-peer';
import { SessionAttributesTooLargeError } from '../../errors/session-attributes-too-large.error';
import { Public } from '../../http/public.decorator';
import { NotBeforeWatermark } from '../../revocation/not-before.watermark';
import { SESSION_RPC_OPTIONS, SessionRpc } from '../../session.constants';
import { SessionService } from '../../session.service';
import type { Session } from '../../session.types';
import { parseSessionId, parseToken } from '../../token/session.token';
import { assertAttributeNames, assertAttributesFit } from '../attribute-names';
import { SessionStore } from '../session-store.interface';
import { RefusalLog } from '../../logging/refusal-log';
import { SESSION_RPC_MAX_BATCH } from './remote-session.store';
import {
  mayPatch,
  SessionRpcCall,
  SessionRpcCapability,
  SessionRpcOptions,
  sessionFields,
} from './session-rpc.capabilities';

/** The identity of a caller that showed no verified client certificate. */
const ANONYMOUS = '(no client certificate)';

/**
 * The auth service's session RPC (register it with `SessionRpcModule`), for services that run
 * `SessionModule` with `remote`. It serves four calls and nothing else: `validate` by token,
 * one or several at once (`validate-many`; auth hashes the token: a public session id yields
 * nothing), `patch` of the app attributes of the session a token names (the caller proves it
 * holds the token; only the names its capability lets it write; made through `SessionService`,
 * so announced as `session.patched`), `get` by id without touching the session (for services
 * that check session assertions), and `ping`.
 *
 * It is a trust boundary. The caller is the common name of its client certificate, verified by
 * the TLS layer (`sessionRpcTransport`); the capability table says what each caller may call
 * and which session fields it receives. Refusals are logged once per caller, reason and
 * minute (`RefusalLog`), with the count of those not logged.
 */
@Public()
@Controller()
export class SessionRpcController {
  private readonly refusals = new RefusalLog(new Logger('SessionRpc'));

  constructor(
    @Inject(SessionStore) private readonly store: SessionStore,
    @Inject(SESSION_RPC_OPTIONS) private readonly options: SessionRpcOptions,
    // Patches go through it: auth's own cache forgets the session, and `session.patched` tells
    // the caches of every other service, as for a patch made in auth.
    private readonly sessions: SessionService,
    // Remote callers cannot watch the store: the watermark of a global revocation is applied
    // here, for them.
    @Optional()
    @Inject(NotBeforeWatermark)
    private readonly watermark: NotBeforeWatermark | null = null,
  ) {}

  @MessagePattern(SessionRpc.validate)
  validate(
    @Payload() payload: { token?: unknown },
    @Ctx() context: TcpContext,
  ): Promise<Session | null> {
    return this.validateToken(payload?.token, this.authorize(context, 'validate'));
  }

  /**
   * Several validations in one message (what `RemoteSessionStore` sends for the requests of
   * one event-loop turn): the answers in the tokens' order, one store call per distinct token.
   * Needs the `validate` capability; more than `SESSION_RPC_MAX_BATCH` tokens, or anything but
   * strings, is malformed.
   */
  @MessagePattern(SessionRpc.validateMany)
  validateMany(
    @Payload() payload: { tokens?: unknown },
    @Ctx() context: TcpContext,
  ): Promise<(Session | null)[]> {
    const capability = this.authorize(context, 'validate');
    const tokens = strings(payload?.tokens, 'tokens');
    if (tokens.length > SESSION_RPC_MAX_BATCH) {
      throw malformed('tokens');
    }
    // A token sent twice is validated once: its store call (one script run, one touch) is not
    // for the caller to multiply within a batch.
    const validations = new Map<string, Promise<Session | null>>();
    return Promise.all(
      tokens.map((token) => {
        let validation = validations.get(token);
        if (!validation) {
          validation = this.validateToken(token, capability);
          validations.set(token, validation);
        }
        return validation;
      }),
    );
  }

  @MessagePattern(SessionRpc.patch)
  async patch(
    @Payload() payload: { token?: unknown; attributes?: unknown; remove?: unknown },
    @Ctx() context: TcpContext,
  ): Promise<boolean> {
    const capability = this.authorize(context, 'patch');
    const changes = { ...record(payload?.attributes, 'attributes') };
    const removed = strings(payload?.remove ?? [], 'remove');
    const names = [...Object.keys(changes), ...removed];
    try {
      assertAttributeNames(names);
      for (const name of removed) changes[name] = undefined;
      // What the caller's own SessionService checks before it sends: only a hostile caller gets
      // here with more (thousands of names made the store's script fail, answered 503). Each
      // value is weighed as its JSON, as the store writes it: one nested too deep for that
      // overflows the stack here, refused, where the store answered a 500 and logged a stack.
      assertAttributesFit(changes);
    } catch {
      throw malformed('attributes');
    }
    // What the capability table grants, and no more: another service's attributes are its own.
    if (!names.every((name) => mayPatch(capability, name))) {
      throw this.refuse(callerOf(context), 'patch', 'may not write those attributes');
    }
    const ref = parseToken(payload?.token);
    // A session a global revocation outdates is dead, even before the sweep deletes it.
    if (!ref || !this.live(await this.store.get(ref))) {
      return false;
    }
    try {
      return await this.sessions.patch(ref.id, changes);
    } catch (error) {
      if (error instanceof SessionAttributesTooLargeError) {
        throw new RpcException({ refused: true, tooLarge: true, message: error.message });
      }
      throw error;
    }
  }

  @MessagePattern(SessionRpc.get)
  async get(
    @Payload() payload: { id?: unknown },
    @Ctx() context: TcpContext,
  ): Promise<Session | null> {
    const capability = this.authorize(context, 'get');
    const ref = parseSessionId(payload?.id);
    const session = ref && this.live(await this.store.get(ref));
    return session ? sessionFields(session, capability.fields) : null;
  }

  /**
   * Answers the store's clock (epoch ms, Redis's): callers measure their offset from it, to
   * compare session stamps with the clock that made them. Releases before answered `true`.
   */
  @MessagePattern(SessionRpc.ping)
  async ping(@Ctx() context: TcpContext): Promise<number> {
    this.authorize(context, 'ping');
    await this.store.ping();
    return this.store.now ? this.store.now() : Date.now();
  }

  private async validateToken(
    token: unknown,
    capability: SessionRpcCapability,
  ): Promise<Session | null> {
    const ref = parseToken(token);
    const session = ref && this.live(await this.store.validate(ref));
    return session ? sessionFields(session, capability.fields) : null;
  }

  /** The caller's capability, or a refusal (logged once per caller and reason). */
  private authorize(context: TcpContext, call: SessionRpcCall | 'ping'): SessionRpcCapability {
    const caller = callerOf(context);
    // Own entries only: a certificate named `constructor` must not find Object's.
    const { capabilities } = this.options;
    const capability =
      caller !== ANONYMOUS && Object.hasOwn(capabilities, caller)
        ? capabilities[caller]
        : undefined;
    if (!capability) {
      throw this.refuse(caller, call, 'not in the capability table');
    }
    if (call !== 'ping' && !capability.calls.includes(call)) {
      throw this.refuse(caller, call, `may not call ${call}`);
    }
    return capability;
  }

  private refuse(caller: string, call: string, reason: string): RpcException {
    this.refusals.warn(`${caller}\n${reason}`, `Refused ${call} from ${caller}: ${reason}`);
    return new RpcException({ refused: true, message: `refused: ${reason}` });
  }

  private live(session: Session | null): Session | null {
    return session && this.watermark?.outdates(session) ? null : session;
  }
}

/** The common name of the caller's verified client certificate. */
function callerOf(context: TcpContext): string {
  const socket = context.getSocketRef?.().netSocket;
  if (!(socket instanceof TLSSocket) || !socket.authorized) {
    return ANONYMOUS;
  }
  return connectionCaller(socket);
}

/** The common name of a verified connection's client certificate, read once per connection. */
export function connectionCaller(socket: TLSSocket): string {
  return tlsPeerName(socket) ?? ANONYMOUS;
}

function record(value: unknown, name: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw malformed(name);
  }
  return value as Record<string, unknown>;
}

function strings(value: unknown, name: string): string[] {
  if (!Array.isArray(value) || !value.every((item) => typeof item === 'string')) {
    throw malformed(name);
  }
  return value;
}

function malformed(name: string): RpcException {
  return new RpcException(`Malformed session request: ${name}`);
}
