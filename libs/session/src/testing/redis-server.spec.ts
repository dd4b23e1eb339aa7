import { freePort } from './free-port';
import { waitForPing } from './redis-server';

const pendingTimers = () =>
  process.getActiveResourcesInfo().filter((resource) => resource === 'Timeout').length;

describe('waitForPing', () => {
  it('leaves no timer behind after probes that were refused', async () => {
    const port = await freePort(); // nothing listens there: every probe is refused
    const before = pendingTimers();
    await expect(waitForPing(port, 0)).rejects.toThrow();
    // Timers due now have run once a timer armed after them has.
    await new Promise((resolve) => setTimeout(resolve, 0));
    expect(pendingTimers()).toBe(before);
  });
});
