import { runBenchmark } from './app/runner/run-benchmark';
import { startBenchServer } from './app/server/bench-server';
import { startRpcServer } from './app/server/rpc-server';

// One bundle, three roles: the runner forks itself as the servers it measures.
const roles: Record<string, () => Promise<void>> = {
  server: startBenchServer,
  rpc: startRpcServer,
  runner: runBenchmark,
};

const role = roles[process.argv[2] ?? 'runner'];
if (!role) {
  console.error(`Unknown role ${process.argv[2]}: expected server, rpc or nothing`);
  process.exit(2);
}
role().then(
  () => process.argv[2] === undefined && process.exit(0),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
