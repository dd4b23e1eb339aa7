import { Injectable, OnModuleDestroy } from '@nestjs/common';
import { ClientProxy, ClientProxyFactory, Transport } from '@nestjs/microservices';
import { firstValueFrom, timeout } from 'rxjs';

import { SessionStoreUnavailableError } from './session-store-unavailable.error';
import { NewSessionRecord, SessionStore, UserRef } from './session-store.interface';
import { SessionRpc } from './session.constants';
import { Session, SessionConfig } from './session.types';

/**
 * A `SessionStore` that never touches Redis: every call goes to the auth service's TCP
 * microservice (`SessionRpcController`), which runs it against its own Redis store.
 *
 * @example
 * SessionModule.forRoot({ mode: 'remote', remote: { host: 'auth', port: 4001 } })
 */
@Injectable()
export class RemoteSessionStore implements SessionStore, OnModuleDestroy {
  private readonly client: ClientProxy;

  constructor(private readonly config: SessionConfig) {
    if (!config.remote) {
      throw new Error('SessionModule: `remote` connection options are required in remote mode');
    }
    this.client = ClientProxyFactory.create({ transport: Transport.TCP, options: config.remote });
  }

  async onModuleDestroy(): Promise<void> {
    await this.client.close();
  }

  create(record: NewSessionRecord): Promise<{ session: Session; evicted: string[] }> {
    return this.send(SessionRpc.create, { record });
  }

  validate(id: string): Promise<Session | null> {
    return this.send(SessionRpc.validate, { id });
  }

  get(id: string): Promise<Session | null> {
    return this.send(SessionRpc.get, { id });
  }

  patch(id: string, attributes: Record<string, unknown>): Promise<boolean> {
    // JSON drops undefined values, which mean "remove": send removals as a list.
    const remove = Object.keys(attributes).filter((name) => attributes[name] === undefined);
    return this.send(SessionRpc.patch, { id, attributes, remove });
  }

  destroy(id: string, ownerId?: string): Promise<boolean> {
    return this.send(SessionRpc.destroy, { id, ownerId });
  }

  list(user: UserRef): Promise<Session[]> {
    return this.send(SessionRpc.list, { user });
  }

  destroyAll(user: UserRef, exceptId?: string): Promise<number> {
    return this.send(SessionRpc.destroyAll, { user, exceptId });
  }

  setRoles(user: UserRef, roles: string[]): Promise<number> {
    return this.send(SessionRpc.setRoles, { user, roles });
  }

  rotate(oldId: string, newId: string): Promise<Session | null> {
    return this.send(SessionRpc.rotate, { oldId, newId });
  }

  userTag(userId: string, create: boolean): Promise<string | null> {
    return this.send(SessionRpc.userTag, { userId, create });
  }

  async ping(): Promise<void> {
    await this.send(SessionRpc.userTag, { userId: '-', create: false });
  }

  private async send<T>(pattern: string, payload: object): Promise<T> {
    try {
      return await firstValueFrom(
        this.client.send<T>(pattern, payload).pipe(timeout(this.config.storeTimeoutMs)),
      );
    } catch (error) {
      throw new SessionStoreUnavailableError(error);
    }
  }
}
