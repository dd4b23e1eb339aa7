import type { Registry } from 'prom-client';

type Labels<L extends string> = Record<L, string>;

/** One value line of a metric, as prom-client's registry reads them from `get()`. */
interface ValueLine {
  labels: Record<string, string | number>;
  value: number;
  metricName?: string;
}

/** What a prom-client registry needs of a metric to expose it. */
interface RegistryMetric {
  name: string;
  help: string;
  type: string;
  aggregator: string;
  get(): { name: string; help: string; type: string; aggregator: string; values: ValueLine[] };
  reset(): void;
}

/**
 * A Prometheus counter with a few fixed label sets, for a per-request path: `child(labels)` is
 * looked up once, and `inc()` on it is one addition. prom-client's own `Counter` builds, checks
 * and hashes a label object on every increment, children included. It registers itself in a
 * prom-client `Registry`, which reads it at scrape time; the text is the same as a `Counter`'s.
 */
export class HotPathCounter<L extends string> implements RegistryMetric {
  readonly type = 'counter';
  readonly aggregator = 'sum';
  private readonly series = new Map<string, { labels: Labels<L>; value: number }>();

  constructor(
    readonly name: string,
    readonly help: string,
    private readonly labelNames: readonly L[],
    registry: Registry,
  ) {
    registry.registerMetric(this as never);
  }

  /** The series of one label set; keep it and call `inc()` on it. */
  child(labels: Labels<L>): { inc(): void } {
    const key = keyOf(this.labelNames, labels);
    let series = this.series.get(key);
    if (!series) {
      series = { labels: { ...labels }, value: 0 };
      this.series.set(key, series);
    }
    const counted = series;
    return {
      inc: () => {
        counted.value++;
      },
    };
  }

  get() {
    return exposed(
      this,
      [...this.series.values()].map(({ labels, value }) => ({ labels, value })),
    );
  }

  reset(): void {
    for (const series of this.series.values()) series.value = 0;
  }
}

interface HistogramSeries<L extends string> {
  labels: Labels<L>;
  /** Observations per bucket (not cumulative); the last one is +Inf. */
  counts: number[];
  sum: number;
  count: number;
}

/**
 * A Prometheus histogram with a few fixed label sets, for a per-request path: `observe()` on a
 * child is a bucket search and three additions on plain numbers. Same exposition as
 * prom-client's `Histogram` (cumulative `_bucket` lines with `le` first, then `_sum` and
 * `_count`), read by the registry at scrape time.
 */
export class HotPathHistogram<L extends string> implements RegistryMetric {
  readonly type = 'histogram';
  readonly aggregator = 'sum';
  private readonly series = new Map<string, HistogramSeries<L>>();
  private readonly bounds: number[];

  constructor(
    readonly name: string,
    readonly help: string,
    private readonly labelNames: readonly L[],
    buckets: number[],
    registry: Registry,
  ) {
    this.bounds = [...buckets].sort((a, b) => a - b);
    registry.registerMetric(this as never);
  }

  /** The series of one label set; keep it and call `observe(value)` on it. */
  child(labels: Labels<L>): { observe(value: number): void } {
    const key = keyOf(this.labelNames, labels);
    let series = this.series.get(key);
    if (!series) {
      series = {
        labels: { ...labels },
        counts: new Array(this.bounds.length + 1).fill(0),
        sum: 0,
        count: 0,
      };
      this.series.set(key, series);
    }
    const observed = series;
    const bounds = this.bounds;
    return {
      observe: (value: number) => {
        let bucket = 0;
        while (bucket < bounds.length && value > bounds[bucket]) bucket++;
        observed.counts[bucket]++;
        observed.sum += value;
        observed.count++;
      },
    };
  }

  get() {
    const values: ValueLine[] = [];
    for (const { labels, counts, sum, count } of this.series.values()) {
      let cumulative = 0;
      this.bounds.forEach((bound, i) => {
        cumulative += counts[i];
        values.push({
          labels: { le: bound, ...labels },
          value: cumulative,
          metricName: `${this.name}_bucket`,
        });
      });
      values.push({
        labels: { le: '+Inf', ...labels },
        value: count,
        metricName: `${this.name}_bucket`,
      });
      values.push({ labels: { ...labels }, value: sum, metricName: `${this.name}_sum` });
      values.push({ labels: { ...labels }, value: count, metricName: `${this.name}_count` });
    }
    return exposed(this, values);
  }

  reset(): void {
    for (const series of this.series.values()) {
      series.counts.fill(0);
      series.sum = 0;
      series.count = 0;
    }
  }
}

/** A metric's `get()` answer: what it is, and its value lines. */
function exposed(metric: Omit<RegistryMetric, 'get' | 'reset'>, values: ValueLine[]) {
  const { name, help, type, aggregator } = metric;
  return { name, help, type, aggregator, values };
}

function keyOf<L extends string>(names: readonly L[], labels: Labels<L>): string {
  return names.map((name) => labels[name]).join('\u0000');
}
