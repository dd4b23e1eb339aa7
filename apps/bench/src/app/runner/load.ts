import { Agent, get } from 'node:http';
import { performance } from 'node:perf_hooks';

import autocannon from 'autocannon';

import { median, percentile } from './stats';

/** One load run, reduced to what the report needs. */
export interface LoadResult {
  requests: number;
  rps: number;
  p50: number;
  p99: number;
  non2xx: number;
  errors: number;
  /** `loadAtRate` only: responses received while its window was open. */
  windowRequests?: number;
}

export interface LoadOptions {
  url: string;
  connections: number;
  seconds?: number;
  /** Exactly this many requests instead of a duration. */
  amount?: number;
  /** One header set per connection, round robin: each connection is one user. */
  headers: Array<Record<string, string>>;
}

/** As fast as the server answers (autocannon), or a fixed number of requests. */
export async function load(options: LoadOptions): Promise<LoadResult> {
  let next = 0;
  // autocannon refuses an explicit undefined duration, even when it counts requests instead.
  const until = options.amount ? { amount: options.amount } : { duration: options.seconds };
  const result = await autocannon({
    url: options.url,
    connections: options.connections,
    ...until,
    setupClient: (client) => client.setHeaders(options.headers[next++ % options.headers.length]),
  });
  const requests = result['2xx'] + result.non2xx;
  return {
    requests,
    rps: requests / result.duration,
    p50: result.latency.p50,
    p99: result.latency.p99,
    non2xx: result.non2xx,
    errors: result.errors + result.timeouts,
  };
}

/** Throws unless every request of a run got a 2xx answer: a figure of refused requests means nothing. */
export function assertAllAnswered(result: LoadResult, what: string): void {
  if (result.non2xx || result.errors || !result.requests) {
    throw new Error(
      `${what} answered ${result.non2xx} non-2xx and ${result.errors} errors out of ${result.requests}`,
    );
  }
}

/** A stretch of a paced run measured on its own (see `loadAtRate`). */
export interface LoadWindow {
  /** Seconds of load before the window opens. */
  after: number;
  seconds: number;
  /** Awaited as the window opens and as it closes, e.g. to read the server's CPU time. */
  onEdge(): Promise<void>;
}

export interface RateOptions {
  url: string;
  /** Keep-alive connections at most; a steady rate needs only as many as are in flight. */
  connections: number;
  rate: number;
  /** Round robin, one set per request: the users take turns. */
  headers: Array<Record<string, string>>;
  window: LoadWindow;
  /** Load kept up after the window closes, so that no connection closes inside it. */
  tailSeconds: number;
}

/**
 * Requests at evenly spaced instants, whether or not earlier ones were answered (open loop).
 * autocannon's `overallRate` cannot do this: it gives each connection a quota per second,
 * which it sends back to back when the second starts, so the server sees a saturating burst
 * each second and then idles. Answers what autocannon's run would, for the whole run, with
 * `windowRequests` counted while the window was open.
 */
export async function loadAtRate(options: RateOptions): Promise<LoadResult> {
  const agent = new Agent({ keepAlive: true, maxSockets: options.connections });
  const total = Math.round(
    (options.window.after + options.window.seconds + options.tailSeconds) * options.rate,
  );
  const latencies: number[] = [];
  let non2xx = 0;
  let errors = 0;
  let windowRequests = 0;
  let counting = false;
  const send = (headers: Record<string, string>) =>
    new Promise<void>((resolve) => {
      const sent = performance.now();
      const request = get(options.url, { agent, headers }, (response) => {
        response.resume();
        response.once('end', () => {
          latencies.push(performance.now() - sent);
          non2xx += (response.statusCode ?? 0) >= 300 ? 1 : 0;
          windowRequests += counting ? 1 : 0;
          resolve();
        });
      });
      request.once('error', () => {
        errors++;
        resolve();
      });
    });

  const answers: Array<Promise<void>> = [];
  const started = performance.now();
  const sending = new Promise<void>((resolve) => {
    // Timers fire every millisecond or so: each tick sends what is due by then.
    const timer = setInterval(() => {
      const due = Math.min(
        total,
        Math.floor(((performance.now() - started) / 1000) * options.rate),
      );
      while (answers.length < due) {
        answers.push(send(options.headers[answers.length % options.headers.length]));
      }
      if (answers.length >= total) {
        clearInterval(timer);
        resolve();
      }
    }, 1);
  });
  await Promise.all([sending, measureWindow(options.window, (open) => (counting = open))]);
  await Promise.all(answers);
  const seconds = (performance.now() - started) / 1000;
  agent.destroy();
  return {
    requests: latencies.length,
    rps: latencies.length / seconds,
    p50: round(median(latencies)),
    p99: round(percentile(latencies, 0.99)),
    non2xx,
    errors,
    windowRequests,
  };
}

async function measureWindow(window: LoadWindow, count: (open: boolean) => void): Promise<void> {
  await sleep(window.after);
  await window.onEdge();
  count(true);
  await sleep(window.seconds);
  count(false);
  await window.onEdge();
}

function sleep(seconds: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, seconds * 1000));
}

function round(ms: number): number {
  return Math.round(ms * 10) / 10;
}
