import { createServer, Server, Socket } from 'node:net';

import { Redis } from 'ioredis';

import { SocketFloorClient } from './redis-floor.controller';

const REDIS_URL = process.env['REDIS_URL'] ?? 'redis://127.0.0.1:6379';

/**
 * A server that answers with raw reply bytes, each write as given: what a real Redis does on
 * loopback only now and then (a reply cut in two, two replies in one read). `answer` gets the
 * number of EVALSHA commands received so far, after each chunk that holds any command.
 */
async function fakeRedis(
  answer: (received: { evalsha: number; handshake: boolean }, socket: Socket) => void,
): Promise<{ server: Server; url: string; received: string[] }> {
  const received: string[] = [];
  const server = createServer((socket) => {
    let evalsha = 0;
    socket.on('data', (chunk) => {
      const text = chunk.toString('latin1');
      received.push(text);
      evalsha += text.split('EVALSHA').length - 1;
      answer({ evalsha, handshake: text.includes('SETNAME') }, socket);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return { server, url: `redis://127.0.0.1:${port}`, received };
}

describe('SocketFloorClient (redis-floor-socket)', () => {
  // Undone last first: the ACL user goes before the connection that deletes it.
  const closers: Array<() => unknown> = [];
  afterEach(async () => {
    for (const close of closers.splice(0).reverse()) await close();
  });

  it('makes the round trip on the real Redis, every one of many calls in flight answered', async () => {
    const name = `bench-socket-floor-${process.pid}`;
    const client = await SocketFloorClient.connect(REDIS_URL, name);
    closers.push(() => client.onModuleDestroy());
    const redis = new Redis(REDIS_URL);
    closers.push(() => redis.disconnect());

    const settled = await Promise.allSettled(
      Array.from({ length: 500 }, () => client.evalTrivialScript()),
    );
    expect(settled.filter(({ status }) => status === 'fulfilled')).toHaveLength(500);
    const list = await redis.client('LIST');
    expect(String(list)).toContain(`name=${name}`);
  });

  it('authenticates as the URL says, and refuses a wrong password', async () => {
    const redis = new Redis(REDIS_URL);
    closers.push(() => redis.disconnect());
    const user = `bench-socket-floor-${process.pid}`;
    await redis.call('ACL', 'SETUSER', user, 'on', '>right-password', '+@all', '~*');
    closers.push(() => redis.call('ACL', 'DELUSER', user));
    const { host } = new URL(REDIS_URL);

    const client = await SocketFloorClient.connect(`redis://${user}:right-password@${host}`, 'x');
    closers.push(() => client.onModuleDestroy());
    await expect(client.evalTrivialScript()).resolves.toBeUndefined();

    // The socket's own handshake, past the script loading that would refuse first.
    const refused = SocketFloorClient.open(
      `redis://${user}:wrong-password@${host}`,
      'x',
      'c'.repeat(40),
    );
    refused.then((leaked) => closers.push(() => leaked.onModuleDestroy())).catch(() => undefined);
    await expect(refused).rejects.toThrow(/WRONGPASS/);
  });

  it('refuses a TLS URL rather than sending the handshake in clear', async () => {
    await expect(
      SocketFloorClient.open('rediss://127.0.0.1:6380', 'x', 'd'.repeat(40)),
    ).rejects.toThrow('redis-floor-socket speaks plain TCP only, not rediss://');
  });

  it('reads replies cut across reads and joined in one, and rejects the call an error answers', async () => {
    const sha = 'a'.repeat(40);
    const { server, url, received } = await fakeRedis(({ evalsha, handshake }, socket) => {
      if (handshake) {
        socket.write('+O');
        setTimeout(() => socket.write('K\r\n'), 5);
      } else if (evalsha === 2) {
        socket.write(':1\r\n:1\r\n');
      } else if (evalsha === 3) {
        socket.write(':');
        setTimeout(() => socket.write('1\r'), 5);
        setTimeout(() => socket.write('\n'), 10);
      } else if (evalsha === 4) {
        socket.write('-NOSCRIPT No matching script\r\n');
      } else if (evalsha === 5) {
        socket.write(':1\r\n');
      }
    });
    closers.push(() => server.close());
    const client = await SocketFloorClient.open(url, 'named', sha);
    closers.push(() => client.onModuleDestroy());

    await expect(
      Promise.all([client.evalTrivialScript(), client.evalTrivialScript()]),
    ).resolves.toEqual([undefined, undefined]);
    await expect(client.evalTrivialScript()).resolves.toBeUndefined();
    await expect(client.evalTrivialScript()).rejects.toThrow('NOSCRIPT No matching script');
    await expect(client.evalTrivialScript()).resolves.toBeUndefined();
    expect(received[0]).toBe('*3\r\n$6\r\nCLIENT\r\n$7\r\nSETNAME\r\n$5\r\nnamed\r\n');
    expect(received.join('')).toContain(`*3\r\n$7\r\nEVALSHA\r\n$40\r\n${sha}\r\n$1\r\n0\r\n`);
  });

  it('rejects the calls in flight when the connection drops, and every call after', async () => {
    const { server, url } = await fakeRedis(({ handshake }, socket) => {
      if (handshake) {
        socket.write('+OK\r\n');
      } else {
        socket.destroy();
      }
    });
    closers.push(() => server.close());
    const client = await SocketFloorClient.open(url, 'named', 'b'.repeat(40));

    await expect(client.evalTrivialScript()).rejects.toThrow('Redis connection closed');
    await expect(client.evalTrivialScript()).rejects.toThrow('Redis connection closed');
  });
});
