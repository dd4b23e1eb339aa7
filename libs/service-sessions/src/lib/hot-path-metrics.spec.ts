import { Counter, Histogram, Registry } from 'prom-client';

import { HotPathCounter, HotPathHistogram } from './hot-path-metrics';

const BUCKETS = [0.0002, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1];

/** Deterministic pseudo-random values: many observations, some on the bounds, some past all. */
function* values(count: number): Generator<number> {
  let seed = 7;
  for (let i = 0; i < count; i++) {
    seed = (seed * 48271) % 2147483647;
    const pick = seed % 10;
    yield pick === 0 ? BUCKETS[seed % BUCKETS.length] : pick === 1 ? 3 : (seed % 100_000) / 50_000;
  }
}

describe('hot-path metrics expose exactly what prom-client would', () => {
  it('a histogram: the same text as prom-client Histogram for the same observations', async () => {
    const ours = new Registry();
    const theirs = new Registry();
    const help = 'latency';
    const fast = new HotPathHistogram('x_seconds', help, ['operation', 'failed'], BUCKETS, ours);
    const reference = new Histogram({
      name: 'x_seconds',
      help,
      labelNames: ['operation', 'failed'],
      buckets: BUCKETS,
      registers: [theirs],
    });
    const sets = [
      { operation: 'validate', failed: 'false' },
      { operation: 'validate', failed: 'true' },
      { operation: 'create', failed: 'false' },
    ];
    const children = sets.map((labels) => fast.child(labels));
    let i = 0;
    for (const value of values(5000)) {
      const set = i++ % sets.length;
      children[set].observe(value);
      reference.observe(sets[set], value);
    }
    expect(await ours.metrics()).toEqual(await theirs.metrics());
    fast.reset();
    reference.reset();
    // prom-client forgets its series on reset; ours keeps them at zero.
    expect(await ours.metrics()).toContain(
      'x_seconds_count{operation="validate",failed="false"} 0',
    );
  });

  it('a counter: the same text as prom-client Counter for the same increments', async () => {
    const ours = new Registry();
    const theirs = new Registry();
    const fast = new HotPathCounter('y_total', 'decisions', ['outcome', 'context'], ours);
    const reference = new Counter({
      name: 'y_total',
      help: 'decisions',
      labelNames: ['outcome', 'context'],
      registers: [theirs],
    });
    const sets = [
      { outcome: 'ok', context: 'http' },
      { outcome: '403', context: 'rpc' },
      { outcome: 'ok', context: 'ws' },
    ];
    const children = sets.map((labels) => fast.child(labels));
    for (let i = 0; i < 1000; i++) {
      const set = (i * 7) % 3;
      children[set].inc();
      reference.inc(sets[set]);
    }
    expect(await ours.metrics()).toEqual(await theirs.metrics());
  });

  it('gives one series per label set, however many children ask for it', async () => {
    const registry = new Registry();
    const counter = new HotPathCounter('z_total', 'z', ['result'], registry);
    counter.child({ result: 'hit' }).inc();
    counter.child({ result: 'hit' }).inc();
    expect(await registry.metrics()).toContain('z_total{result="hit"} 2');
    expect(() => new HotPathCounter('z_total', 'again', ['result'], registry)).toThrow(
      /already been registered/,
    );
  });
});
