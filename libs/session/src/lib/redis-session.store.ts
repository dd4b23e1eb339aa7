// eslint-disable-next-line @typescript-eslint/triple-slash-reference -- apps compile this file through the path alias, so the *.lua module type must travel with it
/// <reference path="./lua.d.ts" />
import { Injectable, Logger, OnModuleDestroy, OnModuleInit } from '@nestjs/common';
import { Cluster, Redis, RedisOptions } from 'ioredis';

import createScript from './scripts/create.lua';
import destroyAllScript from './scripts/destroy-all.lua';
import destroyScript from './scripts/destroy.lua';
import listScript from './scripts/list.lua';
import patchScript from './scripts/patch.lua';
import rotateScript from './scripts/rotate.lua';
import setRolesScript from './scripts/set-roles.lua';
import validateScript from './scripts/validate.lua';
import { SessionStoreUnavailableError } from './session-store-unavailable.error';
import { NewSessionRecord, SessionStore, UserRef } from './session-store.interface';
import { isUserTag, newUserTag, parseSessionId, SessionRef } from './session-token';
import { Session, SessionConfig, SessionRedisConnection } from './session.types';

type Reply = string | number | null | Reply[];
type ScriptCall = (...args: Array<string | number>) => Promise<Reply>;

/** The scripts, registered once per client with `defineCommand` (EVALSHA, NOSCRIPT-safe). */
const SCRIPTS = {
  cloakroomValidate: { lua: validateScript, numberOfKeys: 1 },
  cloakroomCreate: { lua: createScript, numberOfKeys: 2 },
  cloakroomRotate: { lua: rotateScript, numberOfKeys: 2 },
  cloakroomDestroy: { lua: destroyScript, numberOfKeys: 1 },
  cloakroomDestroyAll: { lua: destroyAllScript, numberOfKeys: 1 },
  cloakroomSetRoles: { lua: setRolesScript, numberOfKeys: 1 },
  cloakroomList: { lua: listScript, numberOfKeys: 1 },
  cloakroomPatch: { lua: patchScript, numberOfKeys: 1 },
} as const;

type ScriptedClient = (Redis | Cluster) & Record<keyof typeof SCRIPTS, ScriptCall>;

const SCHEMA_VERSION = '1';
/**
 * Redis keeps a small hash in the compact listpack encoding only while every value is at most
 * `hash-max-listpack-value` bytes (64 by default); one longer value turns the whole hash into a
 * hashtable, about twice the memory. A user agent is usually longer, so it is stored in chunks
 * `ua`, `ua1`, `ua2`… of at most this many characters.
 */
const USER_AGENT_CHUNK = 60;
const ATTRIBUTE_PREFIX = 'a:';

/**
 * The default `SessionStore`: one hash per session, one sorted set per user, all of a user's
 * keys in one `{tag}` hash slot so every script runs on Redis Cluster.
 *
 * @example
 * SessionModule.forRoot({ redis: { url: 'redis://127.0.0.1:6379' } })
 */
@Injectable()
export class RedisSessionStore implements SessionStore, OnModuleInit, OnModuleDestroy {
  private readonly logger = new Logger(RedisSessionStore.name);
  private readonly client: ScriptedClient;
  private readonly ownsClient: boolean;
  private readonly idleArg: string;
  private readonly touchArg: string;

  constructor(private readonly config: SessionConfig) {
    if (!config.redis) {
      throw new Error('SessionModule: `redis` connection options are required in redis mode');
    }
    const { client, owned } = createClient(config.redis, config);
    this.ownsClient = owned;
    if (owned) {
      this.reportOutages(client);
    }
    for (const [name, script] of Object.entries(SCRIPTS)) {
      client.defineCommand(name, script);
    }
    this.client = client as ScriptedClient;
    this.idleArg = String(config.idleTimeoutMs);
    this.touchArg = String(config.touchIntervalMs);
  }

  /** The ioredis client, for health checks and for apps that share the connection. */
  get redis(): Redis | Cluster {
    return this.client;
  }

  async onModuleInit(): Promise<void> {
    if (this.client.status === 'ready' || !this.ownsClient) {
      return;
    }
    // Waiting a little lets the first requests find a connection; a Redis that is down at
    // start is not fatal here: requests answer 503 until it comes back.
    const ready = await new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => resolve(false), Math.max(this.config.storeTimeoutMs, 2000));
      this.client.once('ready', () => {
        clearTimeout(timer);
        resolve(true);
      });
    });
    if (!ready) {
      this.logger.warn('Redis is not reachable yet; session checks answer 503 until it is');
    }
  }

  onModuleDestroy(): void {
    if (this.ownsClient) {
      this.client.disconnect();
    }
  }

  async create(record: NewSessionRecord): Promise<{ session: Session; evicted: string[] }> {
    const ref = this.ref(record.id);
    const fields: string[] = [
      'u',
      record.user.id,
      'n',
      record.user.username,
      'r',
      JSON.stringify(record.user.roles),
      'v',
      SCHEMA_VERSION,
    ];
    if (record.ip) fields.push('ip', record.ip);
    if (record.userAgent) fields.push(...userAgentFields(record.userAgent));
    for (const [name, value] of Object.entries(record.attributes)) {
      if (value !== undefined) fields.push(ATTRIBUTE_PREFIX + name, JSON.stringify(value));
    }
    const reply = (await this.call(() =>
      this.client.cloakroomCreate(
        this.sessionKey(ref),
        this.indexKey(ref.tag, record.user.id),
        this.idleArg,
        this.config.absoluteTimeoutMs,
        this.config.maxSessionsPerUser,
        this.sessionPrefix(ref.tag),
        ref.digest,
        ...fields,
      ),
    )) as [number, ...string[]];
    const [createdAt, ...evicted] = reply;
    const now = String(createdAt);
    const session = this.decode(ref.id, [
      ...fields,
      'c',
      now,
      't',
      now,
      'x',
      String(createdAt + this.config.absoluteTimeoutMs),
    ]);
    return { session, evicted: evicted.map((digest) => `${ref.tag}.${digest}`) };
  }

  async validate(id: string): Promise<Session | null> {
    const ref = this.ref(id);
    const reply = await this.call(() =>
      this.client.cloakroomValidate(this.sessionKey(ref), this.idleArg, this.touchArg),
    );
    return reply ? this.decode(id, reply as string[]) : null;
  }

  async get(id: string): Promise<Session | null> {
    const ref = this.ref(id);
    const hash = await this.call(() => this.client.hgetall(this.sessionKey(ref)));
    const session = Object.keys(hash).length ? this.decode(id, Object.entries(hash).flat()) : null;
    return session && session.absoluteExpiresAt > Date.now() ? session : null;
  }

  async patch(id: string, attributes: Record<string, unknown>): Promise<boolean> {
    const ref = this.ref(id);
    const set: string[] = [];
    const remove: string[] = [];
    for (const [name, value] of Object.entries(attributes)) {
      if (value === undefined) remove.push(ATTRIBUTE_PREFIX + name);
      else set.push(ATTRIBUTE_PREFIX + name, JSON.stringify(value));
    }
    const reply = await this.call(() =>
      this.client.cloakroomPatch(this.sessionKey(ref), set.length / 2, ...set, ...remove),
    );
    return reply === 1;
  }

  async destroy(id: string, ownerId = ''): Promise<boolean> {
    const ref = this.ref(id);
    const reply = await this.call(() =>
      this.client.cloakroomDestroy(
        this.sessionKey(ref),
        this.indexPrefix(ref.tag),
        ref.digest,
        ownerId,
      ),
    );
    return reply === 1;
  }

  async list(user: UserRef): Promise<Session[]> {
    const reply = (await this.call(() =>
      this.client.cloakroomList(this.indexKey(user.tag, user.userId), this.sessionPrefix(user.tag)),
    )) as Array<string | string[]>;
    const sessions: Session[] = [];
    for (let i = 0; i < reply.length; i += 2) {
      sessions.push(this.decode(`${user.tag}.${reply[i]}`, reply[i + 1] as string[]));
    }
    return sessions;
  }

  async destroyAll(user: UserRef, exceptId?: string): Promise<number> {
    const except = exceptId ? this.ref(exceptId).digest : '';
    return (await this.call(() =>
      this.client.cloakroomDestroyAll(
        this.indexKey(user.tag, user.userId),
        this.sessionPrefix(user.tag),
        except,
      ),
    )) as number;
  }

  async setRoles(user: UserRef, roles: string[]): Promise<number> {
    return (await this.call(() =>
      this.client.cloakroomSetRoles(
        this.indexKey(user.tag, user.userId),
        this.sessionPrefix(user.tag),
        JSON.stringify(roles),
      ),
    )) as number;
  }

  async rotate(oldId: string, newId: string): Promise<Session | null> {
    const from = this.ref(oldId);
    const to = this.ref(newId);
    if (from.tag !== to.tag) {
      throw new Error('A session can only rotate within its user tag');
    }
    const reply = await this.call(() =>
      this.client.cloakroomRotate(
        this.sessionKey(from),
        this.sessionKey(to),
        this.idleArg,
        this.config.absoluteTimeoutMs,
        this.indexPrefix(from.tag),
        from.digest,
        to.digest,
      ),
    );
    return reply ? this.decode(newId, reply as string[]) : null;
  }

  async userTag(userId: string, create: boolean): Promise<string | null> {
    const key = `${this.config.keyPrefix}ut:${userId}`;
    if (!create) {
      const tag = await this.call(() => this.client.get(key));
      return isUserTag(tag) ? tag : null;
    }
    // SET NX GET keeps the first tag ever chosen for the user; the TTL outlives the user's
    // sessions, so an expired tag can only belong to a user with no session left.
    const candidate = newUserTag();
    const results = await this.call(() =>
      this.client
        .multi()
        .call('SET', key, candidate, 'NX', 'GET')
        .pexpire(key, this.config.absoluteTimeoutMs + 60_000)
        .exec(),
    );
    const existing = results?.[0]?.[1];
    return isUserTag(existing) ? existing : candidate;
  }

  /**
   * Without an `error` listener ioredis prints every failed reconnect, stack included; one
   * warning per outage is enough (requests already answer 503 meanwhile).
   */
  private reportOutages(client: Redis | Cluster): void {
    let down = false;
    client.on('error', (error: Error) => {
      if (!down) {
        down = true;
        this.logger.warn(`Redis connection lost: ${error.message}`);
      }
    });
    client.on('ready', () => {
      down = false;
    });
  }

  async ping(): Promise<void> {
    await this.call(() => this.client.ping());
  }

  private async call<T>(operation: () => Promise<T>): Promise<T> {
    try {
      return await operation();
    } catch (error) {
      throw new SessionStoreUnavailableError(error);
    }
  }

  private ref(id: string): SessionRef {
    const ref = parseSessionId(id);
    if (!ref) {
      throw new TypeError('Malformed session id');
    }
    return ref;
  }

  private sessionPrefix(tag: string): string {
    return `${this.config.keyPrefix}{${tag}}:s:`;
  }

  private indexPrefix(tag: string): string {
    return `${this.config.keyPrefix}{${tag}}:u:`;
  }

  private sessionKey(ref: SessionRef): string {
    return this.sessionPrefix(ref.tag) + ref.digest;
  }

  private indexKey(tag: string, userId: string): string {
    return this.indexPrefix(tag) + userId;
  }

  private decode(id: string, flat: string[]): Session {
    const session: Session = {
      id,
      userId: '',
      username: '',
      roles: [],
      createdAt: 0,
      lastSeenAt: 0,
      expiresAt: 0,
      absoluteExpiresAt: 0,
      attributes: {},
    };
    const userAgent: string[] = [];
    for (let i = 0; i < flat.length; i += 2) {
      const value = flat[i + 1];
      switch (flat[i]) {
        case 'u':
          session.userId = value;
          break;
        case 'n':
          session.username = value;
          break;
        case 'r':
          session.roles = parseJson(value, []) as string[];
          break;
        case 'c':
          session.createdAt = Number(value);
          break;
        case 't':
          session.lastSeenAt = Number(value);
          break;
        case 'x':
          session.absoluteExpiresAt = Number(value);
          break;
        case 'ip':
          session.ip = value;
          break;
        case 'ua':
          userAgent[0] = value;
          break;
        default:
          if (flat[i].startsWith('ua')) {
            userAgent[Number(flat[i].slice(2))] = value;
          } else if (flat[i].startsWith(ATTRIBUTE_PREFIX)) {
            session.attributes[flat[i].slice(ATTRIBUTE_PREFIX.length)] = parseJson(value, null);
          }
      }
    }
    if (userAgent.length) {
      session.userAgent = userAgent.join('');
    }
    session.expiresAt = Math.min(
      session.lastSeenAt + this.config.idleTimeoutMs,
      session.absoluteExpiresAt,
    );
    return session;
  }
}

function userAgentFields(userAgent: string): string[] {
  const fields: string[] = [];
  for (let start = 0, part = 0; start < userAgent.length; start += USER_AGENT_CHUNK, part++) {
    fields.push(part ? `ua${part}` : 'ua', userAgent.slice(start, start + USER_AGENT_CHUNK));
  }
  return fields;
}

function parseJson(value: string, fallback: unknown): unknown {
  try {
    return JSON.parse(value);
  } catch {
    return fallback;
  }
}

function createClient(
  connection: SessionRedisConnection,
  config: SessionConfig,
): { client: Redis | Cluster; owned: boolean } {
  if ('client' in connection) {
    return { client: connection.client, owned: false };
  }
  // No offline queue: when Redis is down a call fails at once (503) instead of piling up.
  const ours: RedisOptions = {
    enableOfflineQueue: false,
    commandTimeout: config.storeTimeoutMs,
    connectTimeout: Math.max(config.storeTimeoutMs, 2000),
    maxRetriesPerRequest: 0,
    retryStrategy: (attempt) => Math.min(attempt * 100, 1000),
    enableAutoPipelining: config.autoPipelining,
  };
  if ('cluster' in connection) {
    const client = new Cluster(connection.cluster, {
      ...connection.options,
      enableOfflineQueue: false,
      enableAutoPipelining: config.autoPipelining,
      clusterRetryStrategy: (attempt) => Math.min(attempt * 100, 1000),
      redisOptions: { ...ours, ...connection.options?.redisOptions },
    });
    return { client, owned: true };
  }
  if ('sentinels' in connection) {
    const client = new Redis({
      ...ours,
      ...connection.options,
      sentinels: connection.sentinels,
      name: connection.name,
    });
    return { client, owned: true };
  }
  return { client: new Redis(connection.url, { ...ours, ...connection.options }), owned: true };
}
