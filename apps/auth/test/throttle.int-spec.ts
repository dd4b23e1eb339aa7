import { Test } from '@nestjs/testing';
import fc from 'fast-check';
import { Redis } from 'ioredis';
import request from 'supertest';

import { clientNetwork, validateEnv } from '@cloakroom/service-kit';
import {
  freePort,
  RedisServerProcess,
  startRedisServer,
  testKeyPrefix,
} from '@cloakroom/session/testing';

import { LoginAttempt, LoginThrottleService } from '../src/app/auth/login-throttle.service';
import { ThrottleKeys } from '../src/app/auth/throttle/throttle-keys';
import { THROTTLE_SCRIPTS } from '../src/app/auth/throttle/throttle-scripts';
import { TooManyAttemptsException } from '../src/app/common/too-many-attempts.exception';
import { AuthConfig } from '../src/app/config/auth.config';
import { AuthEnv } from '../src/app/config/auth.env';
import { AuthRedis } from '../src/app/redis/auth-redis';
import { PasswordService } from '../src/app/users/password.service';
import { clearRedis, createUser, REDIS_URL, startAuthApp } from './auth-app';
import { loginFrom, throttledAuthApp } from './throttle-app';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * A throttle on real Redis with its own settings and key prefix, and the means to close it.
 * Its attempts are settled by the test or never, so a refused one waits for none of them
 * unless `LOGIN_CHECK_WAIT` says so.
 */
async function throttleWith(name: string, env: Record<string, string>) {
  const prefix = testKeyPrefix(`throttle-${name}`);
  await clearRedis(REDIS_URL, prefix);
  const authEnv = validateEnv(AuthEnv, {
    NODE_ENV: 'test',
    REDIS_URL,
    SESSION_KEY_PREFIX: prefix,
    LOGIN_CHECK_WAIT: '0',
    ...env,
  });
  const moduleRef = await Test.createTestingModule({
    providers: [
      LoginThrottleService,
      AuthRedis,
      AuthConfig,
      { provide: AuthEnv, useValue: authEnv },
    ],
  }).compile();
  await moduleRef.init();
  return {
    throttle: moduleRef.get(LoginThrottleService),
    prefix,
    keys: new ThrottleKeys(moduleRef.get(AuthConfig).loginThrottle.keyPrefix),
    redis: moduleRef.get(AuthRedis).client,
    close: () => moduleRef.close(),
  };
}

/** Begins an attempt; answers the attempt, or the seconds to wait when it was refused. */
async function tryBegin(
  throttle: LoginThrottleService,
  username: string,
  ip: string,
): Promise<LoginAttempt | number> {
  try {
    return await throttle.begin(username, ip);
  } catch (error) {
    if (error instanceof TooManyAttemptsException) {
      expect(error.retryAfterSeconds).toBeGreaterThanOrEqual(1);
      return error.retryAfterSeconds;
    }
    throw error;
  }
}

const counted = (results: Array<LoginAttempt | number>) =>
  results.filter((result) => typeof result !== 'number').length;

let runs = 0;
/** Names and addresses no earlier test or fast-check run has used. */
function fresh() {
  const run = ++runs;
  return {
    user: (i: number) => `throttle-${process.pid}-${run}-user-${i}`,
    ipv4: (i: number) => `10.${run % 250}.${Math.floor(run / 250)}.${i + 1}`,
    ipv6: (net: number, host: number) =>
      `2001:db8:${run.toString(16)}:${net.toString(16)}::${host.toString(16)}`,
  };
}

describe('LoginThrottleService (atomic counting in Redis)', () => {
  describe('with a pair limit of 5', () => {
    let subject: Awaited<ReturnType<typeof throttleWith>>;

    beforeAll(async () => {
      subject = await throttleWith('service', {
        LOGIN_MAX_FAILURES_PER_USER: '5',
        LOGIN_MAX_FAILURES_PER_IP: '1000',
        LOGIN_USER_CEILING: '1000',
        LOGIN_FAILURE_WINDOW: '600',
      });
    });

    afterAll(async () => {
      await subject?.close();
    });

    it.each([0, 1, 2, 3, 4, 5])(
      'lets exactly the rest of the limit through when 30 attempts race after %i earlier ones',
      async (earlier) => {
        const names = fresh();
        const [user, ip] = [names.user(0), names.ipv4(0)];
        for (let i = 0; i < earlier; i++) {
          await subject.throttle.begin(user, ip);
        }
        const results = await Promise.all(
          Array.from({ length: 30 }, () => tryBegin(subject.throttle, user, ip)),
        );
        expect(counted(results)).toBe(5 - earlier);
        // Refused attempts were not counted: another network is untouched.
        expect(counted([await tryBegin(subject.throttle, user, names.ipv4(1))])).toBe(1);
      },
    );

    it("forgives the username's failures from the network of a success, once", async () => {
      const names = fresh();
      const [user, ip] = [names.user(0), names.ipv4(0)];
      const first = await subject.throttle.begin(user, ip);
      for (let i = 0; i < 4; i++) {
        await subject.throttle.begin(user, ip);
      }
      expect(await tryBegin(subject.throttle, user, ip)).toEqual(expect.any(Number));
      await first.succeed();
      const after = await Promise.all(
        Array.from({ length: 10 }, () => tryBegin(subject.throttle, user, ip)),
      );
      expect(counted(after)).toBe(5);
      // Succeeding again gives nothing more back.
      await first.succeed();
      expect(await tryBegin(subject.throttle, user, ip)).toEqual(expect.any(Number));
    });

    it('shares one bucket across an IPv6 /64 and keeps other /64s apart', async () => {
      const names = fresh();
      const user = names.user(0);
      const results = await Promise.all(
        Array.from({ length: 12 }, (_, host) =>
          tryBegin(subject.throttle, user, names.ipv6(1, host + 1)),
        ),
      );
      expect(counted(results)).toBe(5);
      // Another host of the same /64: refused; another /64: counted.
      expect(await tryBegin(subject.throttle, user, `${names.ipv6(1, 0xffff)}`)).toEqual(
        expect.any(Number),
      );
      expect(counted([await tryBegin(subject.throttle, user, names.ipv6(2, 1))])).toBe(1);
    });

    it('counts an IPv4-mapped IPv6 client as its IPv4 address', async () => {
      const names = fresh();
      const user = names.user(0);
      const ip = names.ipv4(3);
      for (let i = 0; i < 5; i++) {
        await subject.throttle.begin(user, i % 2 ? ip : `::ffff:${ip}`);
      }
      expect(await tryBegin(subject.throttle, user, ip)).toEqual(expect.any(Number));
      expect(await tryBegin(subject.throttle, user, `::ffff:${ip}`)).toEqual(expect.any(Number));
    });

    it('answers 503 (store unavailable), never lets the attempt through, when Redis fails', async () => {
      const names = fresh();
      const client = (subject.throttle as unknown as { redis: Redis }).redis;
      const evalsha = jest.spyOn(client, 'evalsha').mockRejectedValueOnce(new Error('down'));
      try {
        await expect(subject.throttle.begin(names.user(0), names.ipv4(0))).rejects.toMatchObject({
          status: 503,
        });
      } finally {
        evalsha.mockRestore();
      }
    });

    it('reloads its scripts when Redis forgot them (restart, failover)', async () => {
      const names = fresh();
      const client = (subject.throttle as unknown as { redis: Redis }).redis;
      // What an emptied script cache answers; flushing the shared Redis would disturb others.
      const evalsha = jest
        .spyOn(client, 'evalsha')
        .mockRejectedValueOnce(new Error('NOSCRIPT No matching script. Please use EVAL.'));
      const load = jest.spyOn(client, 'script');
      try {
        const attempt = await subject.throttle.begin(names.user(0), names.ipv4(0));
        expect(load).toHaveBeenCalledWith('LOAD', THROTTLE_SCRIPTS.userAttempt.lua);
        await attempt.succeed();
      } finally {
        evalsha.mockRestore();
        load.mockRestore();
      }
    });
  });

  describe('while attempts are still being checked', () => {
    let subject: Awaited<ReturnType<typeof throttleWith>>;

    beforeAll(async () => {
      subject = await throttleWith('in-check', {
        LOGIN_MAX_FAILURES_PER_USER: '2',
        LOGIN_MAX_FAILURES_PER_IP: '3',
        LOGIN_USER_CEILING: '1000',
        LOGIN_FAILURE_WINDOW: '600',
        LOGIN_CHECK_WAIT: '1.5',
      });
    });

    afterAll(async () => {
      await subject?.close();
    });

    it('lets a refused attempt through as soon as one being checked succeeds', async () => {
      const names = fresh();
      const [user, ip] = [names.user(0), names.ipv4(0)];
      const first = await subject.throttle.begin(user, ip);
      await subject.throttle.begin(user, ip);
      const third = tryBegin(subject.throttle, user, ip);
      await sleep(100);
      await first.succeed();
      expect(typeof (await third)).toBe('object');
    });

    it('refuses for the window once the attempts it waited for have failed', async () => {
      const names = fresh();
      const [user, ip] = [names.user(0), names.ipv4(0)];
      const checking = [
        await subject.throttle.begin(user, ip),
        await subject.throttle.begin(user, ip),
      ];
      const third = subject.throttle.begin(user, ip);
      await sleep(100);
      await Promise.all(checking.map((attempt) => attempt.fail()));
      const refused = await third.then(
        () => null,
        (error: unknown) => error,
      );
      expect(refused).toBeInstanceOf(TooManyAttemptsException);
      expect((refused as TooManyAttemptsException).failures).toBe(true);
      expect((refused as TooManyAttemptsException).retryAfterSeconds).toBeGreaterThan(500);
    });

    it('refuses for a second, not the window, when none was settled in time', async () => {
      const names = fresh();
      const [user, ip] = [names.user(0), names.ipv4(0)];
      await subject.throttle.begin(user, ip);
      await subject.throttle.begin(user, ip);
      const refused = await subject.throttle.begin(user, ip).then(
        () => null,
        (error: unknown) => error,
      );
      expect(refused).toBeInstanceOf(TooManyAttemptsException);
      expect((refused as TooManyAttemptsException).failures).toBe(false);
      expect((refused as TooManyAttemptsException).retryAfterSeconds).toBe(1);
    });

    it('waits on the network limit too, whatever the usernames', async () => {
      const names = fresh();
      const ip = names.ipv4(0);
      const checking = await Promise.all(
        [0, 1, 2].map((i) => subject.throttle.begin(names.user(i), ip)),
      );
      const fourth = tryBegin(subject.throttle, names.user(3), ip);
      await sleep(100);
      await checking[1].succeed();
      expect(typeof (await fourth)).toBe('object');
    });

    it('counts an attempt checked for longer than any check takes as failed', async () => {
      const names = fresh();
      const [user, ip] = [names.user(0), names.ipv4(0)];
      const [pairKey] = subject.keys.user(user, clientNetwork(ip));
      await subject.throttle.begin(user, ip);
      await subject.throttle.begin(user, ip);
      // As if the auth instance checking them had stopped a minute ago.
      const markers = Object.keys(await subject.redis.hgetall(pairKey)).filter((field) =>
        field.startsWith('a:'),
      );
      for (const marker of markers) {
        await subject.redis.hset(pairKey, marker, String(Date.now() - 60_000));
      }
      const refused = await subject.throttle.begin(user, ip).then(
        () => null,
        (error: unknown) => error,
      );
      expect((refused as TooManyAttemptsException).failures).toBe(true);
    });
  });

  describe('when Redis stalls', () => {
    let server: RedisServerProcess;
    let subject: Awaited<ReturnType<typeof throttleWith>>;

    beforeAll(async () => {
      server = await startRedisServer(await freePort());
      subject = await throttleWith('stall', {
        REDIS_URL: server.url,
        SESSION_STORE_TIMEOUT: '0.2',
        LOGIN_MAX_FAILURES_PER_USER: '3',
        LOGIN_MAX_FAILURES_PER_IP: '4',
        LOGIN_USER_CEILING: '1000',
        LOGIN_FAILURE_WINDOW: '600',
      });
    });

    afterAll(async () => {
      await subject?.close();
      await server?.stop();
    });

    it('counts no attempt answered 503, though Redis runs it once it resumes', async () => {
      const names = fresh();
      const [user, ip] = [names.user(0), names.ipv4(0)];
      // Every client's commands wait; the throttle's time out after 0.2 s, still queued.
      const admin = new Redis(server.url);
      try {
        await admin.client('PAUSE', 1500, 'ALL');
        const during = await Promise.allSettled(
          Array.from({ length: 6 }, () => subject.throttle.begin(user, ip)),
        );
        expect(during.map((result) => result.status)).toEqual(Array(6).fill('rejected'));
        expect(during).toContainEqual({
          status: 'rejected',
          reason: expect.objectContaining({ status: 503 }),
        });
        await admin.ping(); // answered once the pause is over, after what waited before it
        // Nothing was counted: the username's limit (3) and the network's (4) are whole.
        const after = await Promise.all(
          Array.from({ length: 6 }, () => tryBegin(subject.throttle, user, ip)),
        );
        expect(counted(after)).toBe(3);
        expect(counted([await tryBegin(subject.throttle, names.user(1), ip)])).toBe(1);
      } finally {
        admin.disconnect();
      }
    });
  });

  describe('spraying from one network', () => {
    let subject: Awaited<ReturnType<typeof throttleWith>>;

    beforeAll(async () => {
      subject = await throttleWith('spray', {
        LOGIN_MAX_FAILURES_PER_USER: '5',
        LOGIN_MAX_FAILURES_PER_IP: '8',
        LOGIN_USER_CEILING: '1000',
      });
    });

    afterAll(async () => {
      await subject?.close();
    });

    it('counts every username against the network, exactly, when 40 race', async () => {
      const names = fresh();
      const ip = names.ipv4(0);
      const results = await Promise.all(
        Array.from({ length: 40 }, (_, i) => tryBegin(subject.throttle, names.user(i), ip)),
      );
      expect(counted(results)).toBe(8);
      // A refusal by the network took back the username's count: those names keep no counter.
      const refusedUser = names.user(results.findIndex((result) => typeof result === 'number'));
      const [pair, total] = subject.keys.user(refusedUser, clientNetwork(ip));
      expect(await subject.redis.exists(pair, total)).toBe(0);
      const elsewhere = await Promise.all(
        Array.from({ length: 5 }, (_, i) =>
          tryBegin(subject.throttle, refusedUser, names.ipv4(i + 1)),
        ),
      );
      expect(counted(elsewhere)).toBe(5);
    });
  });

  describe('the per-username ceiling', () => {
    let subject: Awaited<ReturnType<typeof throttleWith>>;

    beforeAll(async () => {
      subject = await throttleWith('ceiling', {
        LOGIN_MAX_FAILURES_PER_USER: '5',
        LOGIN_MAX_FAILURES_PER_IP: '1000',
        LOGIN_USER_CEILING: '6',
        LOGIN_DELAY_FIRST: '1',
        LOGIN_DELAY_MAX: '4',
      });
    });

    afterAll(async () => {
      await subject?.close();
    });

    it('delays strangers but never a network the user logged in from', async () => {
      const names = fresh();
      const user = names.user(0);
      const home = names.ipv6(0, 1);
      await (await subject.throttle.begin(user, home)).succeed();

      // Attackers from 20 networks, 3 guesses each, all at once: 6 get through.
      const attack = await Promise.all(
        Array.from({ length: 60 }, (_, i) => tryBegin(subject.throttle, user, names.ipv4(i % 20))),
      );
      expect(counted(attack)).toBe(6);
      const waits = attack.filter((result): result is number => typeof result === 'number');
      expect(Math.max(...waits)).toBeLessThanOrEqual(4);

      // The owner, from home, is not held back: 4 typos and the right password all count.
      for (let i = 0; i < 4; i++) {
        expect(counted([await tryBegin(subject.throttle, user, home)])).toBe(1);
      }
      const owner = await subject.throttle.begin(user, home);
      await owner.succeed();
      // Another /64 of the same owner is a stranger until it logs in.
      expect(await tryBegin(subject.throttle, user, names.ipv6(1, 1))).toEqual(expect.any(Number));
    });

    it('makes strangers wait longer and longer, up to the cap, and never for good', async () => {
      const names = fresh();
      const user = names.user(0);
      for (let i = 0; i < 6; i++) {
        await subject.throttle.begin(user, names.ipv4(i));
      }
      // Each wait is read right after the attempt before it counted: up to the delay, and more
      // than half of it unless this test stalled.
      const observed: number[] = [];
      for (const delay of [1, 2, 4, 4]) {
        const wait = await tryBegin(subject.throttle, user, names.ipv4(10 + observed.length));
        expect(typeof wait).toBe('number');
        observed.push(wait as number);
        expect(wait).toBeLessThanOrEqual(delay);
        await sleep((wait as number) * 1000 + 20);
        const next = await tryBegin(subject.throttle, user, names.ipv4(20 + observed.length));
        expect(typeof next).not.toBe('number');
      }
      expect(observed[2]).toBeGreaterThan(observed[0]);
    }, 30_000);
  });

  describe('against a plain model (fast-check commands)', () => {
    // Small enough that every limit binds: 2 users x 2 per network > 3 per network, and
    // 3 networks x 2 per user > a ceiling of 3.
    const limits = { pair: 2, network: 3, ceiling: 3 };
    let subject: Awaited<ReturnType<typeof throttleWith>>;
    let admin: Redis;

    beforeAll(async () => {
      // Windows and delays of an hour: nothing ends by itself during a run; `AdvanceWindow`
      // ends every window at once, as time would.
      subject = await throttleWith('model', {
        LOGIN_MAX_FAILURES_PER_USER: String(limits.pair),
        LOGIN_MAX_FAILURES_PER_IP: String(limits.network),
        LOGIN_USER_CEILING: String(limits.ceiling),
        LOGIN_FAILURE_WINDOW: '3600',
        LOGIN_DELAY_FIRST: '3600',
        LOGIN_DELAY_MAX: '3600',
      });
      admin = new Redis(REDIS_URL);
    });

    afterAll(async () => {
      admin?.disconnect();
      await subject?.close();
    });

    interface Counter {
      n: number;
      window: number;
    }
    interface Outstanding {
      user: number;
      net: number;
      pairWindow: number;
      userWindow: number;
      netWindow: number;
      settled: boolean;
    }
    interface Model {
      pair: Map<string, Counter>;
      user: Map<number, Counter>;
      net: Map<number, Counter>;
      known: Set<string>;
      outstanding: Outstanding[];
      nextWindow: number;
    }
    interface Real {
      names: ReturnType<typeof fresh>;
      attempts: LoginAttempt[];
    }

    const pairOf = (user: number, net: number) => `${user}/${net}`;
    const USERS = 2;
    const NETS = 3;

    /** Every counter in Redis holds what the model says (read in one round trip). */
    async function expectSameCounts(model: Model, real: Real): Promise<void> {
      const keys = subject.keys;
      const network = (net: number) => clientNetwork(real.names.ipv6(net, 1));
      const expected: Array<[string, number]> = [];
      for (let user = 0; user < USERS; user++) {
        for (let net = 0; net < NETS; net++) {
          const [pair, total, known] = keys.user(real.names.user(user), network(net));
          expected.push([pair, model.pair.get(pairOf(user, net))?.n ?? 0]);
          expected.push([known, model.known.has(pairOf(user, net)) ? 1 : 0]);
          if (net === 0) {
            expected.push([total, model.user.get(user)?.n ?? 0]);
          }
        }
      }
      for (let net = 0; net < NETS; net++) {
        expected.push([keys.network(network(net)), model.net.get(net)?.n ?? 0]);
      }
      const pipeline = admin.pipeline();
      for (const [key] of expected) {
        if (key.includes('}:k:')) {
          pipeline.exists(key);
        } else {
          pipeline.hget(key, 'n');
        }
      }
      const replies = (await pipeline.exec()) ?? [];
      expect(replies.map(([, value]) => Number(value ?? 0))).toEqual(
        expected.map(([, count]) => count),
      );
    }
    const open = (model: Model, counters: Map<string | number, Counter>, key: string | number) => {
      const counter = counters.get(key) ?? { n: 0, window: model.nextWindow++ };
      counter.n++;
      counters.set(key, counter);
      return counter.window;
    };

    class Attempt implements fc.AsyncCommand<Model, Real> {
      constructor(
        readonly user: number,
        readonly net: number,
      ) {}
      check = () => true;
      async run(model: Model, real: Real): Promise<void> {
        const pair = pairOf(this.user, this.net);
        const allowed =
          (model.pair.get(pair)?.n ?? 0) < limits.pair &&
          ((model.user.get(this.user)?.n ?? 0) < limits.ceiling || model.known.has(pair)) &&
          (model.net.get(this.net)?.n ?? 0) < limits.network;
        const result = await tryBegin(
          subject.throttle,
          real.names.user(this.user),
          real.names.ipv6(this.net, 1 + model.outstanding.length),
        );
        expect(typeof result !== 'number').toBe(allowed);
        if (typeof result !== 'number') {
          model.outstanding.push({
            user: this.user,
            net: this.net,
            pairWindow: open(model, model.pair as Map<string | number, Counter>, pair),
            userWindow: open(model, model.user as Map<string | number, Counter>, this.user),
            netWindow: open(model, model.net as Map<string | number, Counter>, this.net),
            settled: false,
          });
          real.attempts.push(result);
        }
        await expectSameCounts(model, real);
      }
      toString = () => `Attempt(u${this.user}, n${this.net})`;
    }

    /** Settles the outstanding attempt `pick` names (modulo), in Redis and in the model. */
    abstract class Settle implements fc.AsyncCommand<Model, Real> {
      constructor(readonly pick: number) {}
      check = (model: Readonly<Model>) => model.outstanding.length > 0;
      protected abstract settle(attempt: LoginAttempt): Promise<void>;
      /** What the settlement does to the model's counters, once per attempt. */
      protected abstract apply(model: Model, attempt: Outstanding): void;
      async run(model: Model, real: Real): Promise<void> {
        const index = this.pick % model.outstanding.length;
        const attempt = model.outstanding[index];
        await this.settle(real.attempts[index]);
        if (attempt.settled) {
          return;
        }
        attempt.settled = true;
        this.apply(model, attempt);
        await expectSameCounts(model, real);
      }
    }

    /** The password was right: the pair's failures forgiven, its network remembered. */
    class Succeed extends Settle {
      protected override settle(attempt: LoginAttempt): Promise<void> {
        return attempt.succeed();
      }
      protected override apply(model: Model, attempt: Outstanding): void {
        const pair = pairOf(attempt.user, attempt.net);
        model.pair.delete(pair);
        model.known.add(pair);
        takeBack(model.user, attempt.user, attempt.userWindow);
        takeBack(model.net, attempt.net, attempt.netWindow);
      }
      override toString = () => `Succeed(#${this.pick})`;
    }

    /** The password was never checked: the attempt is taken back, nothing is forgiven. */
    class Abandon extends Settle {
      protected override settle(attempt: LoginAttempt): Promise<void> {
        return attempt.abandon();
      }
      protected override apply(model: Model, attempt: Outstanding): void {
        takeBack(model.pair, pairOf(attempt.user, attempt.net), attempt.pairWindow);
        takeBack(model.user, attempt.user, attempt.userWindow);
        takeBack(model.net, attempt.net, attempt.netWindow);
      }
      override toString = () => `Abandon(#${this.pick})`;
    }

    /** A refund takes one off a counter only in the window the attempt was counted in. */
    function takeBack<K>(counters: Map<K, Counter>, key: K, window: number): void {
      const counter = counters.get(key);
      if (counter && counter.window === window && counter.n > 0) {
        counter.n--;
      }
    }

    class AdvanceWindow implements fc.AsyncCommand<Model, Real> {
      check = () => true;
      async run(model: Model): Promise<void> {
        // Every counter's window ends (its key expires); remembered networks stay.
        const keys = await admin.keys(`${subject.prefix}*`);
        const counters = keys.filter((key) => !key.includes('}:k:'));
        if (counters.length) {
          await admin.del(...counters);
        }
        model.pair.clear();
        model.user.clear();
        model.net.clear();
      }
      toString = () => 'AdvanceWindow';
    }

    it('refuses and refunds exactly as the model does', async () => {
      const attempt = fc
        .tuple(fc.integer({ min: 0, max: USERS - 1 }), fc.integer({ min: 0, max: NETS - 1 }))
        .map(([user, net]) => new Attempt(user, net));
      // Weighted by repetition: windows must fill up before one ends for limits to bind.
      const commands = [
        attempt,
        attempt,
        attempt,
        attempt,
        fc.nat(50).map((pick) => new Succeed(pick)),
        fc.nat(50).map((pick) => new Succeed(pick)),
        fc.nat(50).map((pick) => new Abandon(pick)),
        fc.constant(new AdvanceWindow()),
      ];
      await fc.assert(
        fc.asyncProperty(fc.commands(commands, { maxCommands: 60 }), async (sequence) => {
          const setup = () => ({
            model: {
              pair: new Map(),
              user: new Map(),
              net: new Map(),
              known: new Set<string>(),
              outstanding: [],
              nextWindow: 0,
            } as Model,
            real: { names: fresh(), attempts: [] } as Real,
          });
          await fc.asyncModelRun(setup, sequence);
        }),
        { numRuns: 300 },
      );
    }, 120_000);
  });
});

describe('login throttling through the app', () => {
  const auth = throttledAuthApp('throttle', {
    LOGIN_MAX_FAILURES_PER_USER: '5',
    LOGIN_MAX_FAILURES_PER_IP: '1000',
    LOGIN_USER_CEILING: '10',
    LOGIN_DELAY_FIRST: '30',
    LOGIN_DELAY_MAX: '60',
    LOGIN_FAILURE_WINDOW: '600',
  });

  it('lets exactly 5 of 30 parallel wrong guesses reach the password check, round after round', async () => {
    const verify = jest.spyOn(auth.app.get(PasswordService), 'verify');
    try {
      for (const earlier of [0, 2, 4]) {
        const user = await createUser(auth.http, auth.adminCookie);
        const ip = `198.51.100.${10 + earlier}`;
        for (let i = 0; i < earlier; i++) {
          await auth.login(user.username, 'wrong-password', ip).expect(401);
        }
        verify.mockClear();
        const answers = await Promise.all(
          Array.from({ length: 30 }, () => auth.login(user.username, 'wrong-password', ip)),
        );
        const statuses = answers.map((answer) => answer.status);
        expect(statuses.filter((status) => status === 401)).toHaveLength(5 - earlier);
        expect(statuses.filter((status) => status === 429)).toHaveLength(25 + earlier);
        expect(verify).toHaveBeenCalledTimes(5 - earlier);
        const refused = answers.find((answer) => answer.status === 429);
        expect(refused?.body).toEqual({ statusCode: 429, message: expect.any(String) });
        expect(Number(refused?.headers['retry-after'])).toBeGreaterThan(0);
        expect(Number(refused?.headers['retry-after'])).toBeLessThanOrEqual(600);
      }
    } finally {
      verify.mockRestore();
    }
  });

  it('lets parallel logins with the right password all in, past every limit, and records no throttling', async () => {
    const user = await createUser(auth.http, auth.adminCookie);
    const answers = await Promise.all(
      Array.from({ length: 12 }, () => auth.login(user.username, user.password, '198.51.100.90')),
    );
    expect(answers.map((answer) => answer.status)).toEqual(Array(12).fill(200));
    // The activity is written from the session event stream, a moment after the answers.
    let types: string[] = [];
    for (const deadline = Date.now() + 5000; Date.now() < deadline; await sleep(50)) {
      const activity = await request(auth.http)
        .get(`/api/auth/users/${user.id}/activity`)
        .set('Cookie', auth.adminCookie)
        .expect(200);
      types = (activity.body.items as Array<{ type: string }>).map((item) => item.type);
      if (types.filter((type) => type === 'login').length >= 12) break;
    }
    expect(types.filter((type) => type === 'login')).toHaveLength(12);
    expect(types).not.toContain('login.throttled');
  });

  it('lets the owner in from a network they used while strangers hammer the account from others', async () => {
    const user = await createUser(auth.http, auth.adminCookie);
    const home = '2001:db8:77:1::10';
    await auth.login(user.username, user.password, home).expect(200);

    const hammer = Promise.all(
      Array.from({ length: 80 }, (_, i) =>
        auth.login(user.username, 'wrong-password', `2001:db8:66:${i % 40}::${i}`),
      ),
    );
    const [owner, attack] = await Promise.all([
      auth.login(user.username, user.password, '2001:db8:77:1::99'),
      hammer,
    ]);
    expect(owner.status).toBe(200);
    const statuses = attack.map((answer) => answer.status);
    expect(statuses.filter((status) => status === 401).length).toBeLessThanOrEqual(10);
    expect(statuses.every((status) => status === 401 || status === 429)).toBe(true);
    // After the attack, the owner still gets in from home; a stranger's network waits.
    await auth.login(user.username, user.password, home).expect(200);
    const stranger = await auth.login(user.username, user.password, '192.0.2.200').expect(429);
    expect(Number(stranger.headers['retry-after'])).toBeLessThanOrEqual(60);
  });

  it('keys IPv6 clients by their /64', async () => {
    const user = await createUser(auth.http, auth.adminCookie);
    for (let host = 1; host <= 5; host++) {
      await auth.login(user.username, 'wrong-password', `2001:db8:55:1::${host}`).expect(401);
    }
    await auth.login(user.username, user.password, '2001:db8:55:1:ffff::1').expect(429);
    await auth.login(user.username, user.password, '2001:db8:55:2::1').expect(200);
  });

  it("forgives a username's failures from the network it then logged in from", async () => {
    const user = await createUser(auth.http, auth.adminCookie);
    const ip = '203.0.113.40';
    for (let round = 0; round < 3; round++) {
      for (let i = 0; i < 4; i++) {
        await auth.login(user.username, 'wrong-password', ip).expect(401);
      }
      await auth.login(user.username, user.password, ip).expect(200);
    }
  });

  it('keeps the counters in Redis, where every instance sees them', async () => {
    const second = await startAuthApp('throttle-peer', {
      SESSION_KEY_PREFIX: auth.keyPrefix,
      LOGIN_MAX_FAILURES_PER_USER: '5',
    });
    try {
      const user = await createUser(auth.http, auth.adminCookie);
      for (let i = 0; i < 5; i++) {
        await auth.login(user.username, 'wrong-password', '10.9.8.7').expect(401);
      }
      await loginFrom(second.http, user.username, user.password, '10.9.8.7').expect(429);
    } finally {
      await second.close();
    }
  });
});

describe('argon2 under a burst of logins', () => {
  const auth = throttledAuthApp('argon2-cap', {
    PASSWORD_HASH_CONCURRENCY: '2',
    PASSWORD_HASH_QUEUE: '3',
    LOGIN_MAX_FAILURES_PER_USER: '5',
    LOGIN_MAX_FAILURES_PER_IP: '1000',
    LOGIN_USER_CEILING: '1000',
  });

  it('runs no more than the cap at once and answers the overflow 503 (429 past a username share) + Retry-After, never 500', async () => {
    const argon2 = jest.requireActual('@node-rs/argon2');
    const real = argon2.verify;
    let running = 0;
    let most = 0;
    const spy = jest.spyOn(argon2, 'verify').mockImplementation(async (...args: unknown[]) => {
      running++;
      most = Math.max(most, running);
      try {
        return await real(...args);
      } finally {
        running--;
      }
    });
    try {
      // Unknown usernames too: each still costs one verification.
      const answers = await Promise.all(
        Array.from({ length: 40 }, (_, i) =>
          auth.login(i % 2 ? 'alice' : `nobody-${i}`, 'wrong-password', `198.18.${i}.1`),
        ),
      );
      const statuses = answers.map((answer) => answer.status);
      expect(statuses.every((status) => [401, 429, 503].includes(status))).toBe(true);
      const busy = answers.filter((answer) => answer.status !== 401);
      expect(busy.length).toBeGreaterThan(0);
      expect(statuses.filter((status) => status === 401).length).toBeGreaterThanOrEqual(5);
      for (const answer of busy) {
        expect(answer.headers['retry-after']).toBe('1');
        expect(answer.body).toEqual({ statusCode: answer.status, message: expect.any(String) });
      }
      // Each made-up name comes from a network of its own, holding nothing: refused, it is the
      // busy server's 503. Only `alice`, asked for from every other network, holds more than
      // its share of the hashing capacity.
      expect(statuses.filter((status, i) => status === 429 && i % 2 === 0)).toEqual([]);
      expect(most).toBeLessThanOrEqual(2);
      expect(spy.mock.calls.length).toBe(statuses.filter((status) => status === 401).length);
    } finally {
      spy.mockRestore();
    }
  });

  it('takes back an attempt refused 503 before its password was checked, and only that one', async () => {
    const user = await createUser(auth.http, auth.adminCookie);
    // Every slot and queue place held by verifications that wait for the gate.
    const argon2 = jest.requireActual('@node-rs/argon2');
    const real = argon2.verify;
    let open!: () => void;
    const gate = new Promise<void>((resolve) => (open = resolve));
    const spy = jest.spyOn(argon2, 'verify').mockImplementation(async (...args: unknown[]) => {
      await gate;
      return real(...args);
    });
    const blockers = Array.from({ length: 5 }, (_, i) =>
      auth.login(`nobody-${i}`, 'wrong-password', `198.19.${i}.1`).then((answer) => answer.status),
    );
    try {
      for (let held = 0; spy.mock.calls.length < 2; held++) {
        if (held > 400) throw new Error('the blocking logins never reached argon2');
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
      // Twice the pair limit, one after the other: were they counted, the sixth would be a 429.
      for (let i = 0; i < 10; i++) {
        const busy = await auth.login(user.username, 'wrong-password', '203.0.113.77');
        expect(busy.status).toBe(503);
        expect(busy.headers['retry-after']).toBe('1');
      }
    } finally {
      open();
      spy.mockRestore();
    }
    expect(await Promise.all(blockers)).toEqual([401, 401, 401, 401, 401]);
    // The user's five guesses from that network are all still there, and only five.
    for (let i = 0; i < 5; i++) {
      await auth.login(user.username, 'wrong-password', '203.0.113.77').expect(401);
    }
    await auth.login(user.username, user.password, '203.0.113.77').expect(429);
  });
});
