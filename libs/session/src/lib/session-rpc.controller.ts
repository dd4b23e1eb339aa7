import { Controller, Inject } from '@nestjs/common';
import { MessagePattern, Payload } from '@nestjs/microservices';

import { Public } from './public.decorator';
import { NewSessionRecord, SessionStore, UserRef } from './session-store.interface';
import { SessionRpc } from './session.constants';
import { parseSessionId } from './session-token';
import { Session } from './session.types';

/**
 * Serves the session store over a Nest microservice transport, for services that run
 * `SessionModule` in `remote` mode. Register it in the auth service, next to a
 * `SessionModule` in `redis` mode, and connect a TCP microservice.
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
  validate(@Payload() { id }: { id: unknown }): Promise<Session | null> | null {
    return parseSessionId(id) ? this.store.validate(id as string) : null;
  }

  @MessagePattern(SessionRpc.get)
  get(@Payload() { id }: { id: unknown }): Promise<Session | null> | null {
    return parseSessionId(id) ? this.store.get(id as string) : null;
  }

  @MessagePattern(SessionRpc.create)
  create(@Payload() { record }: { record: NewSessionRecord }) {
    return this.store.create(record);
  }

  @MessagePattern(SessionRpc.patch)
  patch(
    @Payload()
    {
      id,
      attributes,
      remove,
    }: {
      id: string;
      attributes: Record<string, unknown>;
      remove: string[];
    },
  ): Promise<boolean> {
    const changes = { ...attributes };
    for (const name of remove) changes[name] = undefined;
    return this.store.patch(id, changes);
  }

  @MessagePattern(SessionRpc.destroy)
  destroy(@Payload() { id, ownerId }: { id: string; ownerId?: string }): Promise<boolean> {
    return this.store.destroy(id, ownerId);
  }

  @MessagePattern(SessionRpc.list)
  list(@Payload() { user }: { user: UserRef }): Promise<Session[]> {
    return this.store.list(user);
  }

  @MessagePattern(SessionRpc.destroyAll)
  destroyAll(@Payload() { user, exceptId }: { user: UserRef; exceptId?: string }) {
    return this.store.destroyAll(user, exceptId);
  }

  @MessagePattern(SessionRpc.setRoles)
  setRoles(@Payload() { user, roles }: { user: UserRef; roles: string[] }): Promise<number> {
    return this.store.setRoles(user, roles);
  }

  @MessagePattern(SessionRpc.rotate)
  rotate(@Payload() { oldId, newId }: { oldId: string; newId: string }) {
    return this.store.rotate(oldId, newId);
  }

  @MessagePattern(SessionRpc.userTag)
  userTag(@Payload() { userId, create }: { userId: string; create: boolean }) {
    return this.store.userTag(String(userId), Boolean(create));
  }
}
