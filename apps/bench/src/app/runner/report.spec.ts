import type { HeadToHead } from './head-to-head';
import { BenchReport, goals } from './report';

/** A results file with what the goals read: the session scenario, one rival, one pair. */
function reportWith(pair: Partial<HeadToHead>): BenchReport {
  const scenario = {
    ratioToNone: 0.5,
    cpuAddedOverNone: 50,
    redisRoundTripsPerRequest: 1,
    redisCommandsPerRequest: 1,
    redisCommandsExecutedPerRequest: 4,
  };
  return {
    adapters: { fastify: { session: scenario, 'jwt-hs256': scenario } },
    headToHead: { fastify: [{ a: 'session', b: 'jwt-hs256', rounds: 6, ...pair }] },
    memory: { bytesPerSession: 384 },
  } as unknown as BenchReport;
}

function lineOf(report: BenchReport, label: string): string {
  const line = goals(report).find((candidate) => candidate.includes(label));
  if (!line) {
    throw new Error(`no goal line names ${label}`);
  }
  return line;
}

const RPS = 'session / jwt-hs256 requests/s';
const CPU = 'session CPU minus fast-jwt HS256 CPU';

describe('goals', () => {
  it('says met only when the whole interval of the median meets the target', () => {
    const report = reportWith({ rpsRatios: [1.25, 1.3, 1.21, 1.4, 1.33, 1.28] });
    expect(lineOf(report, RPS)).toMatch(/^met: .* = 1\.28 \[1\.21, 1\.4\] \(target >= 1\.2\)/);
  });

  it('says missed only when the whole interval misses it', () => {
    const report = reportWith({ cpuDiffsFixed: [12, 30, 8, 25, 40, 18] });
    expect(lineOf(report, CPU)).toMatch(/^MISSED: .* = 18 \[8, 40\] \(target <= 0\)/);
  });

  it('calls a median whose interval straddles the target unresolved, and says which side it is on', () => {
    const meets = reportWith({ cpuDiffsFixed: [-40, -12, -3, 5, -20, 60] });
    expect(lineOf(meets, CPU)).toMatch(/^unresolved \(median meets\): .* = -12 \[-40, 60\]/);
    const misses = reportWith({ rpsRatios: [1.1, 1.3, 1.15, 1.05, 1.25, 1.12] });
    expect(lineOf(misses, RPS)).toMatch(
      /^unresolved \(median misses\): .* = 1\.12 \[1\.05, 1\.3\]/,
    );
  });

  it('judges fewer than 6 rounds by their median and says there were too few for an interval', () => {
    const report = reportWith({ rpsRatios: [1.1, 1.3, 1.25, 1.22, 1.5] });
    expect(lineOf(report, RPS)).toMatch(
      /^met: .* = 1\.25 \(5 rounds: too few for an interval\) \(target >= 1\.2\)/,
    );
  });

  it('states the floor over HS256 as a bound right after the goal it bounds, not as a verdict', () => {
    const report = reportWith({ cpuDiffsFixed: [80, 95, 60, 120, 88, 101] });
    const floor = { a: 'redis-floor', b: 'jwt-hs256', rounds: 6 } as HeadToHead;
    const pairs = report.headToHead?.fastify as HeadToHead[];
    pairs.push({ ...floor, cpuDiffsFixed: [30, 41, 12, 55, 38, 44] });
    const lines = goals(report);
    const bound = lines.findIndex((line) => line.startsWith('bound: fastify redis-floor'));
    expect(lines[bound - 1]).toContain(CPU);
    expect(lines[bound]).toMatch(
      /= 38 \[12, 55\] \(goal's target <= 0\), past the target: no guard making one Redis round trip/,
    );

    pairs[1] = { ...floor, cpuDiffsFixed: [30, -41, 12, 55, 38, 44] };
    expect(lineOf(report, 'bound: fastify')).toMatch(/\[-41, 55\] .*, not past the target/);
    expect(goals(reportWith({})).some((line) => line.startsWith('bound:'))).toBe(false);
  });

  it('states the client-less socket floor over HS256 as a second bound under the same goal', () => {
    const report = reportWith({ cpuDiffsFixed: [80, 95, 60, 120, 88, 101] });
    const pairs = report.headToHead?.fastify as HeadToHead[];
    pairs.push(
      { a: 'redis-floor', b: 'jwt-hs256', rounds: 6, cpuDiffsFixed: [30, 41, 12, 55, 38, 44] },
      { a: 'redis-floor-socket', b: 'jwt-hs256', rounds: 6, cpuDiffsFixed: [9, 7, 12, 8, 10, 7.5] },
    );
    const lines = goals(report);
    const goal = lines.findIndex((line) => line.includes(CPU));
    expect(lines[goal + 1]).toMatch(/^bound: fastify redis-floor \(/);
    expect(lines[goal + 2]).toMatch(
      /^bound: fastify redis-floor-socket .* = 8 \[7, 12\] \(goal's target <= 0\), past the target/,
    );

    pairs[2] = { ...pairs[2], cpuDiffsFixed: [9, -7, 12, 8, 10, 7.5] };
    expect(lineOf(report, 'bound: fastify redis-floor-socket')).toMatch(/not past the target/);
  });

  it('bounds a requests/s goal by the coalesced floor, past it only when the whole interval is below', () => {
    const report = reportWith({ rpsRatios: [1.1, 1.15, 1.05, 1.12, 1.2, 1.08] });
    const floor = { a: 'redis-floor-coalesced', b: 'jwt-hs256', rounds: 6 } as HeadToHead;
    const pairs = report.headToHead?.fastify as HeadToHead[];
    pairs.push({ ...floor, rpsRatios: [1.1, 1.18, 1.15, 1.12, 1.19, 1.16] });
    const lines = goals(report);
    const bound = lines.findIndex((line) =>
      line.startsWith('bound: fastify redis-floor-coalesced'),
    );
    expect(lines[bound - 1]).toContain(RPS);
    expect(lines[bound]).toMatch(
      /= 1\.15 \[1\.1, 1\.19\] \(goal's target >= 1\.2\), past the target: no guard making one/,
    );

    pairs[1] = { ...floor, rpsRatios: [1.1, 1.18, 1.15, 1.12, 1.25, 1.16] };
    expect(lineOf(report, 'bound: fastify redis-floor-coalesced')).toMatch(
      /\[1\.1, 1\.25\] .*, not past the target/,
    );
  });

  it('bounds the cache goal by hash-floor over allow-all', () => {
    const report = reportWith({});
    const pairs = report.headToHead?.fastify as HeadToHead[];
    pairs.push({
      a: 'hash-floor',
      b: 'allow-all',
      rounds: 6,
      cpuDiffsFixed: [6, 9, 7, 12, 8, 5.5],
    } as HeadToHead);
    expect(lineOf(report, 'bound: fastify hash-floor')).toMatch(
      /= 7 \[5\.5, 12\] \(goal's target <= 5\), past the target: no cache keyed by token digests/,
    );
  });

  it('judges a single figure as it stands', () => {
    expect(lineOf(reportWith({}), 'Redis bytes per session')).toMatch(
      /^met: .* = 384 \(target <= 400\)$/,
    );
  });
});
