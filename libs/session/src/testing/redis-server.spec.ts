import { recordTimers } from './armed-timers';
import { freePort } from './free-port';
import { waitForPing } from './redis-server';

describe('waitForPing', () => {
  it('leaves no timer of a second or more behind after probes that were refused', async () => {
    const port = await freePort(); // nothing listens there: every probe is refused
    // Every timer of a second or more armed meanwhile, until it is cleared: only these would
    // hold the test process open after its last test (the process's other timers are not ours).
    const timers = recordTimers();
    try {
      await expect(waitForPing(port, 0)).rejects.toThrow();
      // Timers due now have run once a timer armed after them has.
      await new Promise((resolve) => setTimeout(resolve, 0));
    } finally {
      timers.restore();
    }
    expect([...timers.armed.values()].filter((ms) => ms >= 1000)).toEqual([]);
  });
});
