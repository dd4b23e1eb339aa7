import { readFileSync } from 'node:fs';
import { connect, createServer, Server, Socket } from 'node:net';

import { freePort } from './free-port';

describe('freePort', () => {
  it('never hands out one port twice, though the OS picks closed ones again', async () => {
    const ports: number[] = [];
    for (let i = 0; i < 1000; i++) ports.push(await freePort());
    expect(new Set(ports).size).toBe(ports.length);
  });

  it('answers a port an app can listen on', async () => {
    const port = await freePort();
    const server = createServer();
    await new Promise<void>((listening, failed) => {
      server.once('error', failed);
      server.listen(port, '127.0.0.1', listening);
    });
    await new Promise((closed) => server.close(closed));
  });

  it("hands out ports below the OS's own range, which outgoing connections take theirs from", async () => {
    const [start] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').split(/\s+/);
    const server: Server = createServer();
    await new Promise<void>((listening) => server.listen(0, '127.0.0.1', listening));
    const sockets: Socket[] = [];
    try {
      const { port } = server.address() as { port: number };
      for (let i = 0; i < 20; i++) {
        const socket = connect(port, '127.0.0.1');
        await new Promise((connected) => socket.once('connect', connected));
        sockets.push(socket);
      }
      const taken = sockets.map((socket) => socket.localPort);
      expect(taken.every((local) => local !== undefined && local >= Number(start))).toBe(true);
      const handed = await Promise.all(Array.from({ length: 200 }, () => freePort()));
      expect(handed.filter((port) => port >= Number(start))).toEqual([]);
      expect(handed.filter((port) => taken.includes(port))).toEqual([]);
    } finally {
      sockets.forEach((socket) => socket.destroy());
      await new Promise((closed) => server.close(closed));
    }
  });
});
