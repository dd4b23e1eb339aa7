import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * A library preloaded into a child process that moves its wall clock (`gettimeofday`,
 * `clock_gettime` on the realtime clocks) by `CLOAKROOM_SKEW_MS` milliseconds; the monotonic
 * clocks are left alone. For Redis servers whose hosts disagree on the time: Redis stamps
 * sessions and answers TIME from the wall clock.
 */
const SOURCE = `
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdlib.h>
#include <sys/time.h>
#include <time.h>

static long long skew_us(void) {
  const char *ms = getenv("CLOAKROOM_SKEW_MS");
  return ms ? atoll(ms) * 1000LL : 0;
}

int gettimeofday(struct timeval *tv, void *tz) {
  static int (*real)(struct timeval *, void *);
  if (!real) real = dlsym(RTLD_NEXT, "gettimeofday");
  int result = real(tv, tz);
  if (result == 0 && tv) {
    long long us = (long long)tv->tv_sec * 1000000LL + tv->tv_usec + skew_us();
    tv->tv_sec = us / 1000000LL;
    tv->tv_usec = us % 1000000LL;
  }
  return result;
}

int clock_gettime(clockid_t clock, struct timespec *ts) {
  static int (*real)(clockid_t, struct timespec *);
  if (!real) real = dlsym(RTLD_NEXT, "clock_gettime");
  int result = real(clock, ts);
  if (result == 0 && ts && (clock == CLOCK_REALTIME || clock == CLOCK_REALTIME_COARSE)) {
    long long ns = (long long)ts->tv_sec * 1000000000LL + ts->tv_nsec + skew_us() * 1000LL;
    ts->tv_sec = ns / 1000000000LL;
    ts->tv_nsec = ns % 1000000000LL;
  }
  return result;
}
`;

/**
 * Builds the library with the machine's C compiler (gcc) in a temporary directory. `env(ms)`
 * is the environment that runs a process `ms` off; `dispose` removes the library.
 *
 * @example
 * const clock = buildSkewedClock();
 * await startRedisCluster(undefined, { nodeEnv: (n) => clock.env(n * 5000) });
 */
export function buildSkewedClock(): {
  env(ms: number): Record<string, string>;
  dispose(): void;
} {
  const dir = mkdtempSync(join(tmpdir(), 'cloakroom-clock-'));
  const source = join(dir, 'skew.c');
  const library = join(dir, 'skew.so');
  writeFileSync(source, SOURCE);
  execFileSync('gcc', ['-shared', '-fPIC', '-O2', '-o', library, source, '-ldl']);
  return {
    env: (ms) => ({ LD_PRELOAD: library, CLOAKROOM_SKEW_MS: String(Math.round(ms)) }),
    dispose: () => rmSync(dir, { recursive: true, force: true }),
  };
}
