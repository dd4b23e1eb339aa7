import { printSavedReport } from './app/runner/report';
import { runBare } from './app/runner/run-bare';
import { runBenchmark } from './app/runner/run-benchmark';
import { runGateway } from './app/runner/run-gateway';
import { runMicro } from './app/runner/run-micro';
import { runPair } from './app/runner/run-pair';
import { startBareServer } from './app/server/bare-server';
import { startBenchServer } from './app/server/bench-server';
import { startRpcServer } from './app/server/rpc-server';

// One bundle, several roles: the runner (no argument) forks itself as the servers it measures
// (`server`, `rpc`); `pair <a> <b>` compares two scenarios only; `micro` measures the guards in
// process, without HTTP; `bare` measures the HTTP servers alone (`bare-server`, no Nest);
// `gateway` what the gateway's hop adds in front of a bare service;
// `report <file>` prints a saved run's results again.
const roles: Record<string, () => Promise<void>> = {
  server: startBenchServer,
  rpc: startRpcServer,
  'bare-server': startBareServer,
  runner: runBenchmark,
  pair: runPair,
  micro: runMicro,
  bare: runBare,
  gateway: runGateway,
  report: printSavedReport,
};
/** Roles that serve until the runner stops them; the others exit when done. */
const SERVING = ['server', 'rpc', 'bare-server'];

const name = process.argv[2] ?? 'runner';
const role = roles[name];
if (!role) {
  console.error(`Unknown role ${name}: expected one of ${Object.keys(roles).join(', ')}`);
  process.exit(2);
}
role().then(
  () => SERVING.includes(name) || process.exit(0),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
