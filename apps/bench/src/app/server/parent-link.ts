import { ChildMessage } from '../scenarios';

/**
 * Answers the runner's CPU probes over the IPC channel, so measuring never sends an HTTP
 * request through the server under test.
 */
let acceptedConnections: number | undefined;

/** Counts the connections `server` accepts, for the runner's probes. */
export function countConnections(server: {
  on(event: 'connection', listener: () => void): unknown;
}): void {
  acceptedConnections ??= 0;
  server.on('connection', () => (acceptedConnections = (acceptedConnections ?? 0) + 1));
}

export function linkToParent(): void {
  process.on('message', (message: { type?: string }) => {
    if (message?.type === 'cpu') {
      const { userCPUTime, systemCPUTime, voluntaryContextSwitches } = process.resourceUsage();
      send({
        type: 'cpu',
        micros: userCPUTime + systemCPUTime,
        wakeups: voluntaryContextSwitches,
        connections: acceptedConnections,
      });
    }
  });
  // The runner going away must not leave a server behind.
  process.on('disconnect', () => process.exit(0));
}

export function send(message: ChildMessage): void {
  process.send?.(message);
}

export function readSettings<T>(variable: string): T {
  const raw = process.env[variable];
  if (!raw) {
    throw new Error(`${variable} is not set: servers are started by the benchmark runner`);
  }
  return JSON.parse(raw) as T;
}
