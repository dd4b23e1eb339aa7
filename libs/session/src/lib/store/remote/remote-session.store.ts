import { Injectable, OnModuleDestroy } from '@nestjs/common';
import { ClientProxy, ClientProxyFactory, Transport } from '@nestjs/microservices';
import { firstValueFrom, timeout } from 'rxjs';

import type { SessionRemoteConnection } from '../../config/session-options.interface';
import type { SessionStoreSettings } from '../../config/session.config';
import { SessionStoreUnavailableError } from '../../errors/session-store-unavailable.error';
import { SessionRpc } from '../../session.constants';
import type { Session } from '../../session.types';
import type { SessionRef } from '../../token/session.token';
import type { CreatedSession, NewSessionRecord, SessionStore } from '../session-store.interface';

/**
 * A `SessionStore` that never touches Redis: every call is one message to the auth service's
 * TCP microservice (`SessionRpcController`), which runs it against its own store. Sessions
 * travel by id; the controller parses them again, since it cannot trust its callers.
 *
 * @example
 * SessionModule.forRoot({ remote: { host: 'auth', port: 4001 } })
 */
@Injectable()
export class RemoteSessionStore implements SessionStore, OnModuleDestroy {
  private readonly client: ClientProxy;

  constructor(
    connection: SessionRemoteConnection,
    private readonly settings: Pick<SessionStoreSettings, 'storeTimeoutMs'>,
  ) {
    this.client = ClientProxyFactory.create({ transport: Transport.TCP, options: connection });
  }

  async onModuleDestroy(): Promise<void> {
    await this.client.close();
  }

  create(record: NewSessionRecord): Promise<CreatedSession | null> {
    return this.send(SessionRpc.create, { record });
  }

  validate(ref: SessionRef): Promise<Session | null> {
    return this.send(SessionRpc.validate, { id: ref.id });
  }

  get(ref: SessionRef): Promise<Session | null> {
    return this.send(SessionRpc.get, { id: ref.id });
  }

  patch(ref: SessionRef, attributes: Record<string, unknown>): Promise<boolean> {
    // JSON drops undefined values, which mean "remove": send removals as a list.
    const remove = Object.keys(attributes).filter((name) => attributes[name] === undefined);
    return this.send(SessionRpc.patch, { id: ref.id, attributes, remove });
  }

  revoke(ref: SessionRef, ownerId?: string): Promise<boolean> {
    return this.send(SessionRpc.revoke, { id: ref.id, ownerId });
  }

  list(userId: string): Promise<Session[]> {
    return this.send(SessionRpc.list, { userId });
  }

  revokeAll(userId: string, except?: SessionRef): Promise<number> {
    return this.send(SessionRpc.revokeAll, { userId, exceptId: except?.id });
  }

  setRoles(userId: string, roles: string[]): Promise<number> {
    return this.send(SessionRpc.setRoles, { userId, roles });
  }

  generation(userId: string): Promise<string> {
    return this.send(SessionRpc.generation, { userId });
  }

  rotate(from: SessionRef, to: SessionRef, revokeOthersOf?: string): Promise<Session | null> {
    return this.send(SessionRpc.rotate, { fromId: from.id, toId: to.id, revokeOthersOf });
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
      throw new SessionStoreUnavailableError(error);
    }
  }
}
