/** The HTTP adapters every scenario runs on. */
export const ADAPTERS = ['express', 'fastify'] as const;
export type Adapter = (typeof ADAPTERS)[number];

/**
 * One server per scenario, same route and handler; only the guard (and what it needs to
 * work) differs. `session-*` variants are the session guard with one library option changed.
 * `redis-floor` has no guard: its handler sends one trivial EVALSHA, the least any guard that
 * asks Redis can cost; `redis-floor-coalesced` writes a loop turn's commands together, as the
 * session store does, and `redis-floor-node-redis` sends them through node-redis instead;
 * `redis-floor-socket` writes the command ready-encoded to a plain socket, with no client library.
 * `hash-floor` is the floor of a cache hit: a guard that only finds the token and hashes it.
 */
export const SCENARIOS = [
  'none',
  'allow-all',
  'hash-floor',
  'redis-floor',
  'redis-floor-coalesced',
  'redis-floor-node-redis',
  'redis-floor-socket',
  'session',
  'session-remote',
  'session-remote-unbatched',
  'session-cache',
  'session-metrics',
  'session-autopipelining',
  'session-uncoalesced',
  'jwt-nestjs',
  'jwt-hs256',
  'jwt-rs256',
  'jwt-eddsa',
  'express-session',
] as const;
export type Scenario = (typeof SCENARIOS)[number];

export function scenariosFor(adapter: Adapter): Scenario[] {
  // express-session is Express middleware: it has no Fastify counterpart to compare.
  return SCENARIOS.filter((scenario) => adapter === 'express' || scenario !== 'express-session');
}

/** Every request must carry this role, whatever the guard. */
export const REQUIRED_ROLE = 'customer';

/** Key prefixes of the benchmark's own Redis data, deleted when it ends. */
export const SESSION_KEY_PREFIX = 'crbench:';
export const EXPRESS_SESSION_KEY_PREFIX = 'crbench:es:';
export const SCALE_KEY_PREFIX = 'crbs:';
/** connect-redis' copies of the scale pass's sessions, for the memory comparison. */
export const SCALE_EXPRESS_SESSION_KEY_PREFIX = 'crbes:';

/** The `express-session` scenario's cookie settings, and those of the sessions stored for it. */
export const EXPRESS_SESSION_COOKIE = {
  httpOnly: true,
  sameSite: 'lax' as const,
  maxAge: 30 * 60 * 1000,
};

/** CLIENT SETNAME of the servers' Redis connections, to count their commands apart. */
export const REDIS_CLIENT_NAME = 'crbench';

/** Secrets and public keys the runner makes and hands to the servers. */
export interface BenchKeys {
  hsSecret: string;
  rsaPublicKey: string;
  edPublicKey: string;
  expressSessionSecret: string;
  /** PEM contents for the session RPC's mutual TLS (`session-remote`): a throwaway CA's. */
  rpcTls: {
    server: { ca: string; cert: string; key: string };
    /** The `bench` client certificate. */
    client: { ca: string; cert: string; key: string };
  };
}

/** What a server process needs to know, passed as one JSON environment variable. */
export interface ServerSettings {
  adapter: Adapter;
  scenario: Scenario;
  port: number;
  redisUrl: string;
  rpcPort: number;
  keys: BenchKeys;
}

export const SERVER_SETTINGS_VARIABLE = 'BENCH_SERVER_SETTINGS';

/** A process's CPU time so far (µs) and its voluntary context switches (wake-ups from a wait). */
export interface ProcessUsage {
  micros: number;
  wakeups: number;
  /** Connections the server has accepted so far, where it counts them (the bare servers). */
  connections?: number;
}

/** Messages between the runner and its child processes. */
export type ChildMessage = { type: 'ready' } | ({ type: 'cpu' } & ProcessUsage);
