import { Controller, Inject } from '@nestjs/common';
import { MessagePattern, Payload, RpcException } from '@nestjs/microservices';

import { Public } from '../../http/public.decorator';
import { SessionRpc } from '../../session.constants';
import type { Session } from '../../session.types';
import { isDigest, parseSessionId } from '../../token/session.token';
import { CreatedSession, NewSessionRecord, SessionStore } from '../session-store.interface';

/**
 * Serves the session store over a Nest microservice transport, for services that run
 * `SessionModule` with `remote`. Register it in the auth service, next to a `SessionModule`
 * with `redis`, and connect a TCP microservice.
 *
 * It is a trust boundary: every payload is checked before it reaches the store. A malformed
 * session id names no session (null, false); anything else malformed is refused.
 *
 * @example
 * @Module({ imports: [SessionModule.forRoot({ redis })], controllers: [SessionRpcController] })
 * export class AuthModule {}
 */
@Public()
@Controller()
export class SessionRpcController {
  constructor(@Inject(SessionStore) private readonly store: SessionStore) {}

  @MessagePattern(SessionRpc.validate)
  async validate(@Payload() payload: { id?: unknown }): Promise<Session | null> {
    const ref = parseSessionId(payload?.id);
    return ref ? this.store.validate(ref) : null;
  }

  @MessagePattern(SessionRpc.get)
  async get(@Payload() payload: { id?: unknown }): Promise<Session | null> {
    const ref = parseSessionId(payload?.id);
    return ref ? this.store.get(ref) : null;
  }

  @MessagePattern(SessionRpc.create)
  create(@Payload() payload: { record?: unknown }): Promise<CreatedSession | null> {
    return this.store.create(newSessionRecord(payload?.record));
  }

  @MessagePattern(SessionRpc.patch)
  async patch(
    @Payload() payload: { id?: unknown; attributes?: unknown; remove?: unknown },
  ): Promise<boolean> {
    const ref = parseSessionId(payload?.id);
    const changes = { ...record(payload?.attributes, 'attributes') };
    for (const name of strings(payload?.remove ?? [], 'remove')) changes[name] = undefined;
    return ref ? this.store.patch(ref, changes) : false;
  }

  @MessagePattern(SessionRpc.revoke)
  async revoke(@Payload() payload: { id?: unknown; ownerId?: unknown }): Promise<boolean> {
    const ref = parseSessionId(payload?.id);
    const ownerId = payload?.ownerId === undefined ? undefined : text(payload.ownerId, 'ownerId');
    return ref ? this.store.revoke(ref, ownerId) : false;
  }

  @MessagePattern(SessionRpc.list)
  list(@Payload() payload: { userId?: unknown }): Promise<Session[]> {
    return this.store.list(text(payload?.userId, 'userId'));
  }

  @MessagePattern(SessionRpc.revokeAll)
  revokeAll(@Payload() payload: { userId?: unknown; exceptId?: unknown }): Promise<number> {
    const userId = text(payload?.userId, 'userId');
    if (payload.exceptId === undefined) {
      return this.store.revokeAll(userId);
    }
    const except = parseSessionId(payload.exceptId);
    if (!except) {
      throw malformed('exceptId');
    }
    return this.store.revokeAll(userId, except);
  }

  @MessagePattern(SessionRpc.setRoles)
  setRoles(@Payload() payload: { userId?: unknown; roles?: unknown }): Promise<number> {
    return this.store.setRoles(text(payload?.userId, 'userId'), strings(payload?.roles, 'roles'));
  }

  @MessagePattern(SessionRpc.rotate)
  async rotate(
    @Payload() payload: { fromId?: unknown; toId?: unknown; revokeOthersOf?: unknown },
  ): Promise<Session | null> {
    const from = parseSessionId(payload?.fromId);
    const to = parseSessionId(payload?.toId);
    if (!to || (from && from.tag !== to.tag)) {
      throw malformed('toId');
    }
    const revokeOthersOf =
      payload.revokeOthersOf === undefined || payload.revokeOthersOf === null
        ? undefined
        : text(payload.revokeOthersOf, 'revokeOthersOf');
    return from ? this.store.rotate(from, to, revokeOthersOf) : null;
  }

  @MessagePattern(SessionRpc.generation)
  generation(@Payload() payload: { userId?: unknown }): Promise<string> {
    return this.store.generation(text(payload?.userId, 'userId'));
  }

  @MessagePattern(SessionRpc.ping)
  async ping(): Promise<true> {
    await this.store.ping();
    return true;
  }
}

function newSessionRecord(value: unknown): NewSessionRecord {
  const given = record(value, 'record');
  const user = record(given['user'], 'user');
  if (!isDigest(given['digest'])) {
    throw malformed('digest');
  }
  return {
    digest: given['digest'],
    user: {
      id: text(user['id'], 'user.id'),
      username: text(user['username'], 'user.username'),
      roles: strings(user['roles'], 'user.roles'),
    },
    ip: given['ip'] === undefined ? undefined : text(given['ip'], 'ip'),
    userAgent: given['userAgent'] === undefined ? undefined : text(given['userAgent'], 'userAgent'),
    attributes: record(given['attributes'] ?? {}, 'attributes'),
    expectedGeneration:
      given['expectedGeneration'] === undefined
        ? undefined
        : text(given['expectedGeneration'], 'expectedGeneration'),
  };
}

function record(value: unknown, name: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw malformed(name);
  }
  return value as Record<string, unknown>;
}

function text(value: unknown, name: string): string {
  if (typeof value !== 'string') {
    throw malformed(name);
  }
  return value;
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
