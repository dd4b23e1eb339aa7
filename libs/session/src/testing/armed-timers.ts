/** The timers armed since {@link recordTimers}, and how to stop recording. */
export interface ArmedTimers {
  /** Each timer still armed (neither run nor cleared), with its delay in ms. */
  readonly armed: Map<NodeJS.Timeout, number>;
  /** Puts back the `setTimeout` and `clearTimeout` there were. */
  restore(): void;
}

/**
 * Records every timer armed from now on until it runs or is cleared: one still armed (and
 * ref'd) when a test's work is done holds the process open that long after its last test.
 * Timers armed before are not seen.
 */
export function recordTimers(): ArmedTimers {
  const armed = new Map<NodeJS.Timeout, number>();
  const { setTimeout: realSet, clearTimeout: realClear } = globalThis;
  const recording = ((callback: (...args: unknown[]) => void, ms?: number, ...args: unknown[]) => {
    const timer = realSet(
      (...given: unknown[]) => {
        armed.delete(timer);
        callback(...given);
      },
      ms,
      ...args,
    );
    armed.set(timer, ms ?? 0);
    return timer;
  }) as typeof setTimeout;
  globalThis.setTimeout = recording;
  globalThis.clearTimeout = ((timer?: NodeJS.Timeout) => {
    if (timer) armed.delete(timer);
    realClear(timer);
  }) as typeof clearTimeout;
  return {
    armed,
    restore: () => {
      globalThis.setTimeout = realSet;
      globalThis.clearTimeout = realClear;
    },
  };
}
