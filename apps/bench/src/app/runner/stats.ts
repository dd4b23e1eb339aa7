export function median(values: number[]): number {
  return percentile(values, 0.5);
}

/** Nearest-rank percentile; `q` in [0, 1]. */
export function percentile(values: number[], q: number): number {
  if (!values.length) {
    return Number.NaN;
  }
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[rank];
}

/** `value` rounded to `digits` decimals. */
export function round(value: number, digits: number): number {
  const scale = 10 ** digits;
  return Math.round(value * scale) / scale;
}

/**
 * A confidence interval for the median of what `values` were drawn from, assuming nothing of
 * its distribution: from the k-th smallest value to the k-th largest, with the largest k whose
 * coverage, 1 - 2 P(B <= k - 1) for B ~ Binomial(n, 1/2), is still at least `confidence`.
 * Undefined when even [min, max] falls short of it (fewer than 6 values at 95 %).
 */
export function medianInterval(
  values: readonly number[],
  confidence = 0.95,
): [number, number] | undefined {
  const n = values.length;
  let k = 0;
  let term = 0.5 ** n; // P(B = k)
  let below = term; // P(B <= k): what an interval from the (k + 1)-th value leaves out on one side
  while (k < Math.floor(n / 2) && 1 - 2 * below >= confidence) {
    k++;
    term = (term * (n - k + 1)) / k;
    below += term;
  }
  if (k === 0) {
    return undefined;
  }
  const sorted = [...values].sort((a, b) => a - b);
  return [sorted[k - 1], sorted[n - k]];
}
