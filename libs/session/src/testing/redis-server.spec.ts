import { freePort } from './free-port';
import { waitForPing } from './redis-server';

describe('waitForPing', () => {
  it('leaves no timer of a second or more behind after probes that were refused', async () => {
    const port = await freePort(); // nothing listens there: every probe is refused
    // Every timer of a second or more armed meanwhile, until it is cleared: only these would
    // hold the test process open after its last test (the process's other timers are not ours).
    const armed = new Set<NodeJS.Timeout>();
    const { setTimeout: realSet, clearTimeout: realClear } = globalThis;
    jest.spyOn(globalThis, 'setTimeout').mockImplementation(((
      callback: (...args: unknown[]) => void,
      ms?: number,
      ...args: unknown[]
    ) => {
      const timer = realSet(
        (...given: unknown[]) => {
          armed.delete(timer);
          callback(...given);
        },
        ms,
        ...args,
      );
      if ((ms ?? 0) >= 1000) armed.add(timer);
      return timer;
    }) as typeof setTimeout);
    jest.spyOn(globalThis, 'clearTimeout').mockImplementation(((timer?: NodeJS.Timeout) => {
      if (timer) armed.delete(timer);
      realClear(timer);
    }) as typeof clearTimeout);
    try {
      await expect(waitForPing(port, 0)).rejects.toThrow();
      // Timers due now have run once a timer armed after them has.
      await new Promise((resolve) => realSet(resolve, 0));
    } finally {
      jest.restoreAllMocks();
    }
    expect(armed.size).toBe(0);
  });
});
