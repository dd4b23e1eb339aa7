import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

const root = join(__dirname, '../..');

/** The closing lines `.ci/run` prints for a log, by running its summary program. */
function summary(log: string[]): string[] {
  const run = spawnSync('awk', ['-f', '.ci/summary.awk'], {
    cwd: root,
    input: log.join('\n') + '\n',
    encoding: 'utf8',
  });
  expect(run.stderr).toBe('');
  expect(run.status).toBe(0);
  return run.stdout.trimEnd().split('\n');
}

describe("CI's closing lines", () => {
  it('runs its summary from a file, not from an inline program a quote could cut short', () => {
    const script = readFileSync(join(root, '.ci/run'), 'utf8');
    expect(script).toContain('awk -f .ci/summary.awk');
  });

  it('names each failed test once with the first lines of its message, and adds up the totals', () => {
    const lines = summary([
      'session:  FAIL   session  test/failover.int-spec.ts (64 s)',
      'session:   ● failover › keeps every revocation',
      'session:',
      'session:     timed out waiting for the failover test setup',
      'session:       at until (test/failover.int-spec.ts:180:38)',
      'session:   ● Console',
      'session:     console.log: not part of the failure',
      'session: Tests:       6 skipped, 1 failed, 360 passed, 367 total',
      'auth: Tests:       12 passed, 12 total',
      // Jest repeats a failure in its summary: named again, its message not repeated.
      'session:   ● failover › keeps every revocation',
      'session:     timed out waiting for the failover test setup',
    ]);
    expect(lines).toEqual([
      'session:  FAIL   session  test/failover.int-spec.ts (64 s)',
      '  failed: session:   ● failover › keeps every revocation',
      '      timed out waiting for the failover test setup',
      '      at until (test/failover.int-spec.ts:180:38)',
      '  failed: session:   ● failover › keeps every revocation',
      'Tests: 372 passed, 1 failed, 6 skipped',
    ]);
  });

  it('keeps at most twelve lines of a long message', () => {
    const message = Array.from({ length: 30 }, (_, i) => `app:     line ${i}`);
    const lines = summary(['app:   ● a › b', ...message, 'app: Tests:       1 failed, 1 total']);
    expect(lines.filter((line) => line.includes('line '))).toHaveLength(12);
  });

  it('prints zero totals and no failures for a clean log', () => {
    expect(summary(['app: Tests:       3 passed, 3 total'])).toEqual([
      'Tests: 3 passed, 0 failed, 0 skipped',
    ]);
  });
});
