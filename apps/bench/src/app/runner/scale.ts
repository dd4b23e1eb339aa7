import { NestFactory } from '@nestjs/core';
import { Redis } from 'ioredis';

import { Session, SessionModule, SessionService } from '@cloakroom/session';

import { REQUIRED_ROLE, SCALE_EXPRESS_SESSION_KEY_PREFIX, SCALE_KEY_PREFIX } from '../scenarios';
import { SessionFacts } from './connect-redis-session';
import { CLIENT_IP, REALISTIC_DEVICE, REALISTIC_USER_AGENT } from './fixtures';
import { connectRedisBytes, memoryBreakdown, MemoryBreakdown } from './memory';
import { median, percentile } from './stats';
import { deleteByPrefix, usedMemory } from './redis-stats';

/** Validation latency and Redis memory with this many sessions stored. */
export interface ScalePoint {
  sessions: number;
  loadSeconds: number;
  validateP50Micros: number;
  validateP99Micros: number;
  /** MEMORY USAGE of every per-session and per-user key, divided by the sessions. */
  bytesPerSession: number;
  /** `used_memory` growth per session: adds Redis's keyspace tables, and any other client's writes. */
  usedMemoryBytesPerSession: number;
  hashEncoding: string;
  indexEncoding: string;
  breakdown: MemoryBreakdown;
}

export interface MemoryVariant {
  userAgent: string;
  sessions: number;
  bytesPerSession: number;
  hashEncoding: string;
}

export interface ScaleResult {
  points: ScalePoint[];
  /** The same sessions stored with `keepUserAgent: true` (the raw user agent kept too). */
  keptUserAgent: MemoryVariant;
  /** connect-redis' bytes (MEMORY USAGE) for the same data as the first sessions created. */
  connectRedisBytesPerSession: number;
  connectRedisSessions: number;
}

const LOAD_CONCURRENCY = 256;
/** Sessions stored again through connect-redis for the memory comparison. */
const CONNECT_REDIS_SESSIONS = 1_000;

/**
 * Loads sessions step by step into a prefix of their own (one user each, so every session
 * pays for its own index and tag key: the worst case), measures, and deletes them all.
 */
export async function measureScale(
  redisUrl: string,
  sizes: number[],
  samples: number,
  log: (line: string) => void,
): Promise<ScaleResult> {
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
    const created: Session[] = [];
    for (const size of sizes) {
      const started = Date.now();
      await createSessions(sessions, tokens, created, size);
      const loadSeconds = (Date.now() - started) / 1000;
      const bytes = (await usedMemory(redis)) - baseline;
      const latency = await validateLatency(sessions, tokens, samples);
      const breakdown = await memoryBreakdown(redis, SCALE_KEY_PREFIX, size);
      const point: ScalePoint = {
        sessions: size,
        loadSeconds,
        validateP50Micros: latency.p50,
        validateP99Micros: latency.p99,
        bytesPerSession: breakdown.bytesPerSession,
        usedMemoryBytesPerSession: Math.round(bytes / size),
        hashEncoding: breakdown.kinds['sessionHash']?.encoding ?? 'none',
        indexEncoding: breakdown.kinds['userIndex']?.encoding ?? 'none',
        breakdown,
      };
      points.push(point);
      const kinds = Object.entries(breakdown.kinds)
        .map(([kind, { bytesPerSession }]) => `${kind} ${bytesPerSession}`)
        .join(', ');
      log(
        `  ${size} sessions: loaded in ${loadSeconds.toFixed(1)} s, validate p50 ${point.validateP50Micros} us ` +
          `p99 ${point.validateP99Micros} us, ${point.bytesPerSession} B/session (${kinds}), hash ${point.hashEncoding}`,
      );
    }
    await deleteByPrefix(redis, SCALE_KEY_PREFIX);

    // The first sessions' own facts (ids, times), so connect-redis stores exactly the same data.
    const compared = created
      .slice(0, CONNECT_REDIS_SESSIONS)
      .map((session): SessionFacts => ({ ...session, ip: CLIENT_IP, device: REALISTIC_DEVICE }));
    const connectRedisBytesPerSession = await connectRedisBytes(
      redisUrl,
      SCALE_EXPRESS_SESSION_KEY_PREFIX,
      compared,
    );
    log(`  connect-redis, same data: ${connectRedisBytesPerSession} B/session`);

    // The same sessions with the raw user agent kept as well (split into listpack-sized fields).
    const size = Math.min(20_000, sizes[sizes.length - 1]);
    const kept = await NestFactory.createApplicationContext(
      SessionModule.forRoot({
        redis: { url: redisUrl },
        keyPrefix: SCALE_KEY_PREFIX,
        keepUserAgent: true,
      }),
      { logger: ['error'] },
    );
    try {
      await createSessions(kept.get(SessionService), [], [], size);
    } finally {
      await kept.close();
    }
    const withAgent = await memoryBreakdown(redis, SCALE_KEY_PREFIX, size);
    const keptUserAgent: MemoryVariant = {
      userAgent: REALISTIC_USER_AGENT,
      sessions: size,
      bytesPerSession: withAgent.bytesPerSession,
      hashEncoding: withAgent.kinds['sessionHash']?.encoding ?? 'none',
    };
    log(
      `  ${size} sessions keeping the ${REALISTIC_USER_AGENT.length}-byte user agent too: ` +
        `${keptUserAgent.bytesPerSession} B/session, hash ${keptUserAgent.hashEncoding}`,
    );
    return {
      points,
      keptUserAgent,
      connectRedisBytesPerSession,
      connectRedisSessions: compared.length,
    };
  } finally {
    await deleteByPrefix(redis, SCALE_KEY_PREFIX);
    redis.disconnect();
    await context.close();
  }
}

async function createSessions(
  sessions: SessionService,
  tokens: string[],
  created: Session[],
  target: number,
): Promise<void> {
  let next = created.length;
  const worker = async () => {
    while (next < target) {
      const n = next++;
      const issued = await sessions.create(
        { id: userOf(n), username: `user${n}`, roles: [REQUIRED_ROLE] },
        { ip: CLIENT_IP, userAgent: REALISTIC_USER_AGENT, device: REALISTIC_DEVICE },
      );
      tokens[n] = issued.token;
      created[n] = issued.session;
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
