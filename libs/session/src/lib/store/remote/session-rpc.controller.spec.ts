import { EventEmitter } from 'node:events';
import { TLSSocket } from 'node:tls';

import { Logger } from '@nestjs/common';
import { RpcException, TcpContext } from '@nestjs/microservices';

import type { SessionService } from '../../session.service';
import type { SessionStore } from '../session-store.interface';
import { SessionRpcController } from './session-rpc.controller';

/** The context of a call on a verified TLS connection whose certificate names `caller`. */
function callFrom(caller: string): TcpContext {
  const netSocket = Object.assign(Object.create(TLSSocket.prototype), new EventEmitter(), {
    authorized: true,
    disableRenegotiation: () => undefined,
    getPeerCertificate: () => ({ subject: { CN: caller } }),
  });
  return new TcpContext([{ netSocket } as never, 'session.ping']);
}

describe('SessionRpcController', () => {
  afterEach(() => jest.restoreAllMocks());

  it('remembers a bounded number of logged refusals, however many callers it refuses', async () => {
    const warn = jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
    const controller = new SessionRpcController(
      {} as SessionStore,
      { capabilities: { orders: { calls: ['validate'], fields: [] } } },
      {} as SessionService,
    );
    const reported = (controller as unknown as { reported: Set<string> }).reported;

    // Certificates of one CA, one per pod (a name each), none in the capability table.
    for (let i = 0; i < 50_000; i++) {
      await expect(controller.ping(callFrom(`pod-${i}`))).rejects.toBeInstanceOf(RpcException);
    }
    // A known caller's refusal of another kind.
    await expect(controller.get({ id: 'x' }, callFrom('orders'))).rejects.toBeInstanceOf(
      RpcException,
    );

    expect(reported.size).toBeLessThanOrEqual(1000);
    expect(warn.mock.calls.length).toBeLessThanOrEqual(1000);
    expect(warn).toHaveBeenCalledWith(expect.stringContaining('Refused ping from pod-0:'));
  });

  it('logs each caller and reason once', async () => {
    const warn = jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
    const controller = new SessionRpcController(
      {} as SessionStore,
      { capabilities: {} },
      {} as SessionService,
    );
    for (let i = 0; i < 3; i++) {
      await expect(controller.ping(callFrom('stranger'))).rejects.toBeInstanceOf(RpcException);
    }
    expect(warn).toHaveBeenCalledTimes(1);
  });
});
