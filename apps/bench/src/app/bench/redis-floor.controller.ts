import { connect, Socket } from 'node:net';

import { Controller, Get, Inject, OnModuleDestroy, Provider } from '@nestjs/common';
import { Redis } from 'ioredis';
import { createClient } from 'redis';

import { Roles } from '@cloakroom/session';

import { REQUIRED_ROLE } from '../scenarios';

/** The script the floor runs: no key, no work, so only the round trip is left to measure. */
const TRIVIAL_SCRIPT = 'return 1';

/** One EVALSHA of the trivial script, through whichever Redis client the scenario names. */
export abstract class RedisFloorClient implements OnModuleDestroy {
  abstract evalTrivialScript(): Promise<unknown>;
  abstract onModuleDestroy(): void;
}

/**
 * `redis-floor`: ioredis with the settings `SessionModule` gives the client it creates
 * (storeTimeout 1 s, autoPipelining off), so that the floor pays what the session guard's
 * client pays — except write coalescing: each command is written on its own.
 * `redis-floor-coalesced` adds it: the commands of one event-loop turn leave in one socket write,
 * as the session store's `WriteCoalescer` sends them (the socket corked until the check phase).
 */
class IoredisFloorClient extends RedisFloorClient {
  private corked = false;

  constructor(
    private readonly redis: Redis,
    private readonly sha: string,
    private readonly coalesce: boolean,
  ) {
    super();
  }

  static async connect(
    redisUrl: string,
    connectionName: string,
    coalesce: boolean,
  ): Promise<IoredisFloorClient> {
    const redis = new Redis(redisUrl, {
      connectionName,
      enableOfflineQueue: false,
      commandTimeout: 1000,
      connectTimeout: 2000,
      maxRetriesPerRequest: 0,
      retryStrategy: (attempt) => Math.min(attempt * 100, 1000),
      enableAutoPipelining: false,
    });
    await new Promise<void>((resolve, reject) => {
      redis.once('ready', resolve);
      redis.once('error', reject);
    });
    const sha = String(await redis.script('LOAD', TRIVIAL_SCRIPT));
    return new IoredisFloorClient(redis, sha, coalesce);
  }

  evalTrivialScript(): Promise<unknown> {
    if (this.coalesce && !this.corked) {
      this.corked = true;
      this.redis.stream.cork();
      setImmediate(() => {
        this.corked = false;
        this.redis.stream.uncork();
      });
    }
    return this.redis.evalsha(this.sha, 0);
  }

  onModuleDestroy(): void {
    this.redis.disconnect();
  }
}

/**
 * `redis-floor-node-redis`: the same round trip through node-redis 5 speaking RESP3, which
 * writes the commands of one event-loop turn together by itself: compared with
 * `redis-floor-coalesced`, is the other client cheaper per round trip?
 */
class NodeRedisFloorClient extends RedisFloorClient {
  private constructor(
    private readonly redis: ReturnType<typeof NodeRedisFloorClient.create>,
    private readonly sha: string,
  ) {
    super();
  }

  private static create(redisUrl: string, connectionName: string) {
    return createClient({
      url: redisUrl,
      name: connectionName,
      RESP: 3,
      disableOfflineQueue: true,
      socket: {
        connectTimeout: 2000,
        reconnectStrategy: (attempt) => Math.min(attempt * 100, 1000),
      },
    });
  }

  static async connect(redisUrl: string, connectionName: string): Promise<NodeRedisFloorClient> {
    const redis = NodeRedisFloorClient.create(redisUrl, connectionName);
    await redis.connect();
    return new NodeRedisFloorClient(redis, await redis.scriptLoad(TRIVIAL_SCRIPT));
  }

  evalTrivialScript(): Promise<unknown> {
    return this.redis.evalSha(this.sha);
  }

  onModuleDestroy(): void {
    this.redis.destroy();
  }
}

/** RESP array of bulk strings: a command as Redis reads it. */
function encodeCommand(...words: string[]): Buffer {
  const parts = words.map((word) => `$${Buffer.byteLength(word)}\r\n${word}\r\n`);
  return Buffer.from(`*${words.length}\r\n${parts.join('')}`);
}

/**
 * `redis-floor-socket`: no Redis client library at all. The EVALSHA is encoded once and written
 * as it is to a plain TCP socket (Nagle off); replies are read line by line, `:1` or `+OK`
 * resolving the oldest call and an `-ERR` line rejecting it. What a round trip costs here is
 * what any client pays — the socket write, the wake-up when the reply arrives, the read — so
 * what it costs above `jwt-hs256` no client, however lean, can take away.
 */
export class SocketFloorClient extends RedisFloorClient {
  private readonly waiting: Array<{ resolve(): void; reject(error: Error): void }> = [];
  private unread = '';

  private constructor(
    private readonly socket: Socket,
    private readonly command: Buffer,
  ) {
    super();
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.read(chunk));
    socket.on('error', () => undefined);
    socket.on('close', () => this.failAll(new Error('Redis connection closed')));
  }

  static async connect(redisUrl: string, connectionName: string): Promise<SocketFloorClient> {
    // The script cache is the server's: loaded once by any client, EVALSHA finds it.
    const loader = new Redis(redisUrl, {
      lazyConnect: true,
      maxRetriesPerRequest: 0,
      retryStrategy: () => null,
    });
    let sha: string;
    try {
      await loader.connect();
      sha = String(await loader.script('LOAD', TRIVIAL_SCRIPT));
    } finally {
      loader.disconnect();
    }
    return SocketFloorClient.open(redisUrl, connectionName, sha);
  }

  /** Connects, authenticates and names the connection; `sha` must be loaded already. */
  static async open(
    redisUrl: string,
    connectionName: string,
    sha: string,
  ): Promise<SocketFloorClient> {
    const url = new URL(redisUrl);
    if (url.protocol !== 'redis:') {
      throw new Error(`redis-floor-socket speaks plain TCP only, not ${url.protocol}//`);
    }
    const socket = connect(Number(url.port || 6379), url.hostname || '127.0.0.1');
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    });
    const client = new SocketFloorClient(socket, encodeCommand('EVALSHA', sha, '0'));
    const handshake: string[][] = [];
    if (url.password) {
      const user = decodeURIComponent(url.username || 'default');
      handshake.push(['AUTH', user, decodeURIComponent(url.password)]);
    }
    if (url.pathname.length > 1) {
      handshake.push(['SELECT', url.pathname.slice(1)]);
    }
    handshake.push(['CLIENT', 'SETNAME', connectionName]);
    try {
      for (const words of handshake) {
        await client.send(encodeCommand(...words));
      }
    } catch (error) {
      socket.destroy();
      throw error;
    }
    return client;
  }

  evalTrivialScript(): Promise<void> {
    return this.send(this.command);
  }

  onModuleDestroy(): void {
    this.socket.destroy();
  }

  private send(command: Buffer): Promise<void> {
    if (this.socket.destroyed) {
      return Promise.reject(new Error('Redis connection closed'));
    }
    return new Promise<void>((resolve, reject) => {
      this.waiting.push({ resolve, reject });
      this.socket.write(command);
    });
  }

  /** Each complete line answers the oldest call: the floor's commands all reply in one line. */
  private read(chunk: Buffer): void {
    this.unread += chunk.toString('latin1');
    let end = this.unread.indexOf('\r\n');
    while (end >= 0) {
      const line = this.unread.slice(0, end);
      this.unread = this.unread.slice(end + 2);
      const call = this.waiting.shift();
      if (line.startsWith('-')) {
        call?.reject(new Error(line.slice(1)));
      } else {
        call?.resolve();
      }
      end = this.unread.indexOf('\r\n');
    }
  }

  private failAll(error: Error): void {
    for (const call of this.waiting.splice(0)) {
      call.reject(error);
    }
  }
}

export type RedisFloorScenario =
  | 'redis-floor'
  | 'redis-floor-coalesced'
  | 'redis-floor-node-redis'
  | 'redis-floor-socket';

/** The floor's client for `scenario`, connected and its script loaded. */
export function connectRedisFloorClient(
  scenario: RedisFloorScenario,
  redisUrl: string,
  connectionName: string,
): Promise<RedisFloorClient> {
  switch (scenario) {
    case 'redis-floor-node-redis':
      return NodeRedisFloorClient.connect(redisUrl, connectionName);
    case 'redis-floor-socket':
      return SocketFloorClient.connect(redisUrl, connectionName);
    default:
      return IoredisFloorClient.connect(
        redisUrl,
        connectionName,
        scenario === 'redis-floor-coalesced',
      );
  }
}

/** The floor's client, connected and its script loaded before the app listens. */
export function redisFloorClient(
  scenario: RedisFloorScenario,
  redisUrl: string,
  connectionName: string,
): Provider {
  return {
    provide: RedisFloorClient,
    useFactory: () => connectRedisFloorClient(scenario, redisUrl, connectionName),
  };
}

/**
 * `redis-floor`: the bench route with no guard, whose handler waits for one EVALSHA before it
 * answers. What a guard adds over this is what it costs beyond a single Redis round trip.
 */
@Controller()
export class RedisFloorController {
  constructor(@Inject(RedisFloorClient) private readonly client: RedisFloorClient) {}

  // Same metadata as every other scenario's route; nothing reads it here.
  @Get('bench')
  @Roles(REQUIRED_ROLE)
  async bench(): Promise<{ ok: true }> {
    await this.client.evalTrivialScript();
    return { ok: true };
  }
}
