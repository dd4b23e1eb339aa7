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

  it('remembers a bounded number of logged refusals, and logs new callers again a minute on', async () => {
    const warn = jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
    let now = performance.now();
    jest.spyOn(performance, 'now').mockImplementation(() => now);
    const controller = new SessionRpcController(
      {} as SessionStore,
      { capabilities: { orders: { calls: ['validate'], fields: [] } } },
      {} as SessionService,
    );
    const remembered = () =>
      (controller as unknown as { refusals: { keys: Map<string, unknown> } }).refusals.keys.size;

    // Certificates of one CA, one per pod (a name each), none in the capability table.
    for (let i = 0; i < 50_000; i++) {
      await expect(controller.ping(callFrom(`pod-${i}`))).rejects.toBeInstanceOf(RpcException);
    }
    // A known caller's refusal of another kind.
    await expect(controller.get({ id: 'x' }, callFrom('orders'))).rejects.toBeInstanceOf(
      RpcException,
    );

    expect(remembered()).toBeLessThanOrEqual(1000);
    expect(warn.mock.calls.length).toBeLessThanOrEqual(1001);
    expect(warn).toHaveBeenCalledWith(expect.stringContaining('Refused ping from pod-0:'));
    // A minute on, the flood holds no place: a new caller's refusal is logged, and the count of
    // those that were not.
    warn.mockClear();
    now += 60_000;
    await expect(controller.ping(callFrom('pod-new'))).rejects.toBeInstanceOf(RpcException);
    expect(warn.mock.calls.map(([line]) => line)).toEqual([
      expect.stringContaining('Refused ping from pod-new:'),
      expect.stringMatching(/^49000 more refusal\(s\)/),
    ]);
    expect(remembered()).toBeLessThanOrEqual(1000);
    // 50,001 calls: seconds on a loaded machine, past Jest's default 5 s.
  }, 30_000);

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
