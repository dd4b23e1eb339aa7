import { EventEmitter } from 'node:events';
import type { Server } from 'node:http';
import { Logger } from '@nestjs/common';

import { NETWORKS_PER_SITE } from '@cloakroom/service-kit';

import { limitConnectionsPerClient } from './client-connections';
import { TrustedProxies } from './trusted-proxies';

/** A connection as the server hands it over: closed (and its `close` emitted) on `destroy`. */
class FakeSocket extends EventEmitter {
  destroyed = false;

  constructor(readonly remoteAddress: string) {
    super();
  }

  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    this.emit('close');
  }
}

describe('limitConnectionsPerClient', () => {
  let server: EventEmitter;
  let warned: jest.SpyInstance;

  /** Hands the server a connection from `address`: whether the cap let it stay open. */
  const connect = (address: string): FakeSocket => {
    const socket = new FakeSocket(address);
    server.emit('connection', socket);
    return socket;
  };
  /** Opens `count` connections from `address`: how many stayed open. */
  const openMany = (address: string, count: number): number =>
    Array.from({ length: count }, () => connect(address)).filter((socket) => !socket.destroyed)
      .length;

  beforeEach(() => {
    server = new EventEmitter();
    warned = jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
  });

  afterEach(() => jest.restoreAllMocks());

  const limit = (perClient: number, proxies = '') =>
    limitConnectionsPerClient(server as unknown as Server, perClient, new TrustedProxies(proxies));

  it("caps the /64s of one IPv6 /48 together at four networks' worth, each /64 at its own", () => {
    limit(3);
    expect(NETWORKS_PER_SITE).toBe(4);
    // A /64 under any of its addresses is one client network: 3 each, 12 for four /64s.
    const held = [connect('2001:db8:1:1::a'), connect('2001:db8:1:1::b')];
    expect(held.concat(connect('2001:db8:1:1::c')).every((socket) => !socket.destroyed)).toBe(true);
    for (const network of [2, 3, 4]) expect(openMany(`2001:db8:1:${network}::a`, 3)).toBe(3);
    // The /48 holds 12 now: none of its other 65,532 /64s gets one more.
    for (let network = 5; network < 200; network += 1) {
      expect(connect(`2001:db8:1:${network.toString(16)}::1`).destroyed).toBe(true);
    }
    // One warning for all of them, naming the setting and the /48.
    expect(warned).toHaveBeenCalledTimes(1);
    expect(String(warned.mock.calls[0][0])).toContain('CONNECTIONS_PER_CLIENT');
    expect(String(warned.mock.calls[0][0])).toContain('2001:db8:1::/48');
    // Another /48 (its /64 held to its own 3) and IPv4 clients are not held back by it.
    expect(openMany('2001:db8:2:1::a', 5)).toBe(3);
    expect(openMany('192.0.2.1', 5)).toBe(3);
    // A connection closed gives its place back to its /48 too: any /64 of it may take it.
    held[0].destroy();
    expect(openMany('2001:db8:1:ffff::a', 2)).toBe(1);
  });

  it('counts IPv4 clients, IPv4-mapped ones included, by address only', () => {
    limit(2);
    for (let host = 1; host <= 50; host += 1) {
      expect(openMany(`203.0.113.${host}`, 3)).toBe(2);
      expect(openMany(`::ffff:198.51.100.${host}`, 3)).toBe(2);
    }
    // Mapped or not, an IPv4 address is one client.
    expect(openMany('198.51.100.1', 1)).toBe(0);
  });

  it('counts nothing of a trusted proxy, and caps nothing at 0', () => {
    limit(2, '2001:db8:1:1::7');
    expect(openMany('2001:db8:1:1::7', 50)).toBe(50);
    expect(openMany('2001:db8:1:2::1', 50)).toBe(2);

    server = new EventEmitter();
    limit(0);
    for (let network = 1; network <= 20; network += 1) {
      expect(openMany(`2001:db8:1:${network}::1`, 10)).toBe(10);
    }
  });
});
