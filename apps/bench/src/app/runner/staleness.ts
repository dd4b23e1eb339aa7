import { performance } from 'node:perf_hooks';

import { SessionService } from '@cloakroom/session';

import { REQUIRED_ROLE } from '../scenarios';
import { CLIENT_IP, REALISTIC_DEVICE, REALISTIC_USER_AGENT } from './fixtures';
import { median } from './stats';

/** How long a revoked session still passed a server that caches sessions locally. */
export interface Staleness {
  /** Per revocation: ms from `revoke()` returning to the first 401 the server answered. */
  samplesMs: number[];
  medianMs: number;
  maxMs: number;
  /**
   * Per revocation: ms from `revoke()` returning to the sending of the last request that still
   * passed (0: none sent after it did).
   */
  lastPassMs: number[];
}

/** Requests in flight at once while a revocation is timed. */
const HAMMERS = 4;
/** Past the cache's own ttl: a revocation not seen by then is a failure, not a figure. */
const GIVE_UP_MS = 10_000;

/**
 * Revokes sessions through the library while hammering the server with their tokens, which
 * it has validated and cached: each sample is how long the server kept answering 200.
 */
export async function measureStaleness(
  sessions: SessionService,
  url: string,
  samples: number,
): Promise<Staleness> {
  const samplesMs: number[] = [];
  const lastPassMs: number[] = [];
  for (let i = 0; i < samples; i++) {
    const { token } = await sessions.create(
      { id: `bench-staleness-${i}`, username: `staleness${i}`, roles: [REQUIRED_ROLE] },
      { ip: CLIENT_IP, userAgent: REALISTIC_USER_AGENT, device: REALISTIC_DEVICE },
    );
    const ask = async () => {
      const response = await fetch(url, {
        headers: { authorization: `Bearer ${token}` },
        signal: AbortSignal.timeout(2_000),
      });
      await response.arrayBuffer();
      return response.status;
    };
    // The first request puts the session in the server's cache; the next ones are hits.
    for (let warm = 0; warm < 3; warm++) {
      const status = await ask();
      if (status !== 200) {
        throw new Error(`The cache server answered ${status} to a live session`);
      }
    }

    let revokedAt = Number.POSITIVE_INFINITY;
    let refusedAt = Number.NaN;
    let lastPass = 0;
    const hammer = async () => {
      const until = performance.now() + GIVE_UP_MS;
      while (Number.isNaN(refusedAt) && performance.now() < until) {
        const sent = performance.now();
        const status = await ask();
        if (status === 401) {
          refusedAt = Number.isNaN(refusedAt) ? performance.now() : refusedAt;
        } else if (status === 200) {
          lastPass = sent > revokedAt ? Math.max(lastPass, sent - revokedAt) : lastPass;
        } else {
          throw new Error(`The cache server answered ${status} while a revocation was timed`);
        }
      }
    };
    const hammering = Promise.all(Array.from({ length: HAMMERS }, hammer));
    // Let the hammers reach a steady pace before the revocation.
    await new Promise((resolve) => setTimeout(resolve, 50));
    await sessions.revoke(token);
    revokedAt = performance.now();
    await hammering;
    if (Number.isNaN(refusedAt)) {
      throw new Error(`A revoked session still passed ${GIVE_UP_MS} ms after its revocation`);
    }
    samplesMs.push(round(Math.max(0, refusedAt - revokedAt)));
    lastPassMs.push(round(lastPass));
  }
  return {
    samplesMs,
    medianMs: median(samplesMs),
    maxMs: Math.max(...samplesMs),
    lastPassMs,
  };
}

function round(ms: number): number {
  return Math.round(ms * 100) / 100;
}
