import { Controller, Get, INestApplication } from '@nestjs/common';
import { APP_GUARD } from '@nestjs/core';
import { Test } from '@nestjs/testing';
import { Span, trace, Tracer, TracerProvider } from '@opentelemetry/api';
import request from 'supertest';

import {
  RedisSessionStore,
  Roles,
  SessionGuard,
  SessionGuardOutcome,
  SessionMetrics,
  SessionModule,
  SessionService,
  SessionStore,
} from '../src';
import { freePort } from '../src/testing';
import { alice, REDIS_URL, uniquePrefix } from './store-contract';

/** Everything the library reported. */
class RecordingMetrics implements SessionMetrics {
  readonly outcomes: Array<[SessionGuardOutcome, string]> = [];
  readonly calls: Array<{ operation: string; seconds: number; failed: boolean }> = [];
  readonly lookups: boolean[] = [];
  readonly lags: number[] = [];
  guardOutcome(outcome: SessionGuardOutcome, context: string): void {
    this.outcomes.push([outcome, context]);
  }
  storeCall(operation: string, seconds: number, failed: boolean): void {
    this.calls.push({ operation, seconds, failed });
  }
  cacheLookup(hit: boolean): void {
    this.lookups.push(hit);
  }
  cacheInvalidation(lagMs: number): void {
    this.lags.push(lagMs);
  }
}

/** Names of the spans started while an OpenTelemetry SDK (this stand-in) is registered. */
const spans: Array<{ name: string; ended: boolean; error: boolean }> = [];
const recordingProvider: TracerProvider = {
  getTracer: (): Tracer =>
    ({
      startSpan(name: string): Span {
        const span = { name, ended: false, error: false };
        spans.push(span);
        return {
          setStatus: ({ code }: { code: number }) => {
            span.error = code === 2;
            return this;
          },
          end: () => {
            span.ended = true;
          },
        } as unknown as Span;
      },
    }) as unknown as Tracer,
};

@Controller('fixture')
class FixtureController {
  @Get('me')
  me() {
    return { ok: true };
  }

  @Roles('admin')
  @Get('admin')
  adminOnly() {
    return { admin: true };
  }
}

async function fixtureApp(redisUrl: string, metrics: SessionMetrics, storeTimeout = 1) {
  const moduleRef = await Test.createTestingModule({
    imports: [
      SessionModule.forRoot({
        redis: { url: redisUrl },
        keyPrefix: uniquePrefix(),
        storeTimeout,
        metrics,
      }),
    ],
    controllers: [FixtureController],
    providers: [{ provide: APP_GUARD, useClass: SessionGuard }],
  }).compile();
  const app = moduleRef.createNestApplication({ logger: false });
  await app.init();
  return app;
}

describe('SessionModule `metrics`', () => {
  let metrics: RecordingMetrics;
  let app: INestApplication;

  beforeAll(() => {
    trace.setGlobalTracerProvider(recordingProvider);
  });

  afterAll(() => {
    trace.disable();
  });

  beforeEach(async () => {
    metrics = new RecordingMetrics();
    spans.length = 0;
    app = await fixtureApp(REDIS_URL, metrics);
  });

  afterEach(async () => {
    await app?.close();
  });

  it('counts each guard decision by outcome and context', async () => {
    const { token } = await app.get(SessionService).create(alice);
    const http = request(app.getHttpServer());
    await http.get('/fixture/me').set('Authorization', `Bearer ${token}`).expect(200);
    await http.get('/fixture/admin').set('Authorization', `Bearer ${token}`).expect(403);
    await http.get('/fixture/me').set('Authorization', 'Bearer nonsense').expect(401);
    await http.get('/fixture/me').expect(401);
    expect(metrics.outcomes).toEqual([
      ['ok', 'http'],
      ['403', 'http'],
      ['401', 'http'],
      ['401', 'http'],
    ]);
  });

  it('times every store call and wraps it in a span, and the store stays what it is', async () => {
    const sessions = app.get(SessionService);
    expect(app.get(SessionStore)).toBeInstanceOf(RedisSessionStore);
    const before = metrics.calls.length;
    const started = performance.now();
    const { token } = await sessions.create(alice);
    await sessions.validate(token);
    await sessions.revoke(token);
    const around = (performance.now() - started) / 1000;
    const operations = metrics.calls.map((call) => call.operation);
    expect(operations).toEqual(expect.arrayContaining(['create', 'validate', 'revoke']));
    for (const call of metrics.calls) {
      expect(call.failed).toBe(false);
      expect(call.seconds).toBeGreaterThan(0);
    }
    // In seconds: none of the three lasted longer than the three together, however slow.
    const three = ['create', 'validate', 'revoke'];
    const timed = metrics.calls.slice(before).filter((call) => three.includes(call.operation));
    expect(timed.map((call) => call.operation)).toEqual(three);
    for (const call of timed) expect(call.seconds).toBeLessThanOrEqual(around);
    expect(spans.map((span) => span.name)).toEqual(
      expect.arrayContaining([
        'session.store.create',
        'session.store.validate',
        'session.store.revoke',
      ]),
    );
    expect(spans.every((span) => span.ended && !span.error)).toBe(true);
  });

  it('counts a 503 and a failed store call, in a span marked as an error, when Redis is gone', async () => {
    const down = new RecordingMetrics();
    const unreachable = await fixtureApp(`redis://127.0.0.1:${await freePort()}`, down, 0.3);
    try {
      await request(unreachable.getHttpServer())
        .get('/fixture/me')
        .set('Authorization', `Bearer cr1.${'A'.repeat(8)}.${'B'.repeat(43)}`)
        .expect(503);
      expect(down.outcomes).toEqual([['503', 'http']]);
      expect(down.calls).toEqual([
        { operation: 'validate', seconds: expect.any(Number), failed: true },
      ]);
      expect(spans).toContainEqual({ name: 'session.store.validate', ended: true, error: true });
    } finally {
      await unreachable.close();
    }
  });

  it('counts local cache hits and misses, and how long an invalidation took to arrive', async () => {
    const keyPrefix = uniquePrefix();
    const cached = new RecordingMetrics();
    const moduleRef = await Test.createTestingModule({
      imports: [
        SessionModule.forRoot({
          redis: { url: REDIS_URL },
          keyPrefix,
          localCache: { ttl: 30 },
          metrics: cached,
        }),
      ],
    }).compile();
    await moduleRef.init();
    const elsewhere = await Test.createTestingModule({
      imports: [SessionModule.forRoot({ redis: { url: REDIS_URL }, keyPrefix })],
    }).compile();
    await elsewhere.init();
    try {
      const sessions = moduleRef.get(SessionService);
      const { token } = await elsewhere.get(SessionService).create(alice);
      // The cache starts paused until the event feed is up: wait for a hit.
      for (let attempt = 0; attempt < 50 && !cached.lookups.includes(true); attempt++) {
        await sessions.validate(token);
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      expect(cached.lookups[0]).toBe(false);
      expect(cached.lookups).toContain(true);
      await elsewhere.get(SessionService).revoke(token);
      for (let attempt = 0; attempt < 50 && cached.lags.length === 0; attempt++) {
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      expect(cached.lags.length).toBeGreaterThan(0);
      expect(cached.lags.every((lag) => lag >= 0 && lag < 5_000)).toBe(true);
      expect(await sessions.validate(token)).toBeNull();
    } finally {
      await moduleRef.close();
      await elsewhere.close();
    }
  });
});
