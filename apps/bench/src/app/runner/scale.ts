import { NestFactory } from '@nestjs/core';
import { Redis } from 'ioredis';

import { SessionModule, SessionService } from '@cloakroom/session';

import { REQUIRED_ROLE, SCALE_KEY_PREFIX } from '../scenarios';
import { CLIENT_IP, REALISTIC_USER_AGENT } from './fixtures';
import { median, percentile } from './stats';
import { deleteByPrefix, usedMemory } from './redis-stats';

/** Validation latency and Redis memory with this many sessions stored. */
export interface ScalePoint {
  sessions: number;
  loadSeconds: number;
  validateP50Micros: number;
  validateP99Micros: number;
  bytesPerSession: number;
  hashEncoding: string;
  indexEncoding: string;
  /** MEMORY USAGE of one session's keys: its hash, its user's index and its user's tag. */
  sampleKeyBytes: { hash: number; index: number; userTag: number };
}

export interface MemoryVariant {
  userAgent: string;
  sessions: number;
  bytesPerSession: number;
  hashEncoding: string;
}

const LOAD_CONCURRENCY = 256;

/**
 * Loads sessions step by step into a prefix of their own (one user each, so every session
 * pays for its own index and tag key: the worst case), measures, and deletes them all.
 */
export async function measureScale(
  redisUrl: string,
  sizes: number[],
  samples: number,
  log: (line: string) => void,
): Promise<{ points: ScalePoint[]; shortUserAgent: MemoryVariant }> {
  const redis = new Redis(redisUrl);
  const context = await NestFactory.createApplicationContext(
    SessionModule.forRoot({ redis: { url: redisUrl }, keyPrefix: SCALE_KEY_PREFIX }),
    { logger: ['error'] },
  );
  const sessions = context.get(SessionService);
  const points: ScalePoint[] = [];
  try {
    await deleteByPrefix(redis, SCALE_KEY_PREFIX);
    const baseline = await usedMemory(redis);
    const tokens: string[] = [];
    const ids: string[] = [];
    for (const size of sizes) {
      const started = Date.now();
      await createSessions(sessions, tokens, ids, size, REALISTIC_USER_AGENT);
      const loadSeconds = (Date.now() - started) / 1000;
      const bytes = (await usedMemory(redis)) - baseline;
      const latency = await validateLatency(sessions, tokens, samples);
      const sample = Math.floor(Math.random() * ids.length);
      const keys = sessionKeys(ids[sample], userOf(sample));
      const point: ScalePoint = {
        sessions: size,
        loadSeconds,
        validateP50Micros: latency.p50,
        validateP99Micros: latency.p99,
        bytesPerSession: Math.round(bytes / size),
        hashEncoding: String(await redis.object('ENCODING', keys.hash)),
        indexEncoding: String(await redis.object('ENCODING', keys.index)),
        sampleKeyBytes: {
          hash: Number(await redis.memory('USAGE', keys.hash)),
          index: Number(await redis.memory('USAGE', keys.index)),
          userTag: Number(await redis.memory('USAGE', keys.userTag)),
        },
      };
      points.push(point);
      log(
        `  ${size} sessions: loaded in ${loadSeconds.toFixed(1)} s, validate p50 ${point.validateP50Micros} us ` +
          `p99 ${point.validateP99Micros} us, ${point.bytesPerSession} B/session, hash ${point.hashEncoding}`,
      );
    }
    await deleteByPrefix(redis, SCALE_KEY_PREFIX);

    // The same with a user agent short enough for a listpack hash (<= 64 bytes per value).
    const shortAgent = REALISTIC_USER_AGENT.slice(0, 64);
    const size = Math.min(20_000, sizes[sizes.length - 1]);
    const before = await usedMemory(redis);
    const shortIds: string[] = [];
    await createSessions(sessions, [], shortIds, size, shortAgent);
    const shortUserAgent: MemoryVariant = {
      userAgent: shortAgent,
      sessions: size,
      bytesPerSession: Math.round(((await usedMemory(redis)) - before) / size),
      hashEncoding: String(
        await redis.object('ENCODING', sessionKeys(shortIds[0], userOf(0)).hash),
      ),
    };
    log(
      `  ${size} sessions with a ${shortAgent.length}-byte user agent: ` +
        `${shortUserAgent.bytesPerSession} B/session, hash ${shortUserAgent.hashEncoding}`,
    );
    return { points, shortUserAgent };
  } finally {
    await deleteByPrefix(redis, SCALE_KEY_PREFIX);
    redis.disconnect();
    await context.close();
  }
}

async function createSessions(
  sessions: SessionService,
  tokens: string[],
  ids: string[],
  target: number,
  userAgent: string,
): Promise<void> {
  let next = ids.length;
  const worker = async () => {
    while (next < target) {
      const n = next++;
      const issued = await sessions.create(
        { id: userOf(n), username: `user${n}`, roles: [REQUIRED_ROLE] },
        { ip: CLIENT_IP, userAgent },
      );
      tokens[n] = issued.token;
      ids[n] = issued.session.id;
    }
  };
  await Promise.all(Array.from({ length: LOAD_CONCURRENCY }, worker));
}

/** One validation at a time, random sessions across the whole set, in microseconds. */
async function validateLatency(
  sessions: SessionService,
  tokens: string[],
  samples: number,
): Promise<{ p50: number; p99: number }> {
  const micros: number[] = [];
  for (let i = 0; i < samples; i++) {
    const token = tokens[Math.floor(Math.random() * tokens.length)];
    const started = process.hrtime.bigint();
    const session = await sessions.validate(token);
    micros.push(Number(process.hrtime.bigint() - started) / 1000);
    if (!session) {
      throw new Error('A freshly created session did not validate');
    }
  }
  return { p50: Math.round(median(micros)), p99: Math.round(percentile(micros, 0.99)) };
}

function userOf(n: number): string {
  return `scale-user-${n}`;
}

// Mirrors the store's key layout, to inspect what it wrote.
function sessionKeys(id: string, userId: string): { hash: string; index: string; userTag: string } {
  const [tag, digest] = id.split('.');
  return {
    hash: `${SCALE_KEY_PREFIX}{${tag}}:s:${digest}`,
    index: `${SCALE_KEY_PREFIX}{${tag}}:u:${userId}`,
    userTag: `${SCALE_KEY_PREFIX}ut:${userId}`,
  };
}
