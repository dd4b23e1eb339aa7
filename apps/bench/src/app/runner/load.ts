import autocannon from 'autocannon';

/** One autocannon run, reduced to what the report needs. */
export interface LoadResult {
  requests: number;
  rps: number;
  p50: number;
  p99: number;
  non2xx: number;
  errors: number;
}

export interface LoadOptions {
  url: string;
  connections: number;
  seconds?: number;
  /** Exactly this many requests instead of a duration. */
  amount?: number;
  /** One header set per connection, round robin: each connection is one user. */
  headers: Array<Record<string, string>>;
  /** Requests per second across all connections; unset: as fast as the server answers. */
  overallRate?: number;
}

export async function load(options: LoadOptions): Promise<LoadResult> {
  let next = 0;
  // autocannon refuses an explicit undefined duration, even when it counts requests instead.
  const until = options.amount ? { amount: options.amount } : { duration: options.seconds };
  const result = await autocannon({
    url: options.url,
    connections: options.connections,
    ...until,
    overallRate: options.overallRate,
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
