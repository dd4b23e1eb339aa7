import { Logger } from '@nestjs/common';

import { RefusalLog } from './refusal-log';

describe('RefusalLog', () => {
  let now: number;
  let lines: string[];
  const logOf = (windowMs = 60_000, maxKeys = 1000) => {
    const logger = new Logger('test');
    jest.spyOn(logger, 'warn').mockImplementation((line: unknown) => void lines.push(String(line)));
    return new RefusalLog(logger, windowMs, maxKeys, () => now);
  };

  beforeEach(() => {
    now = 1_000_000;
    lines = [];
  });

  it('logs a key once per window, and says how many it held back in its next line', () => {
    const log = logOf();
    for (let i = 0; i < 5; i++) log.warn('a', 'refused a');
    log.warn('b', 'refused b');
    expect(lines).toEqual(['refused a', 'refused b']);
    now += 59_999;
    log.warn('a', 'refused a');
    expect(lines).toHaveLength(2);
    now += 1;
    log.warn('a', 'refused a');
    expect(lines).toEqual(['refused a', 'refused b', 'refused a (5 more since the last line)']);
    now += 60_000;
    log.warn('a', 'refused a');
    expect(lines.at(-1)).toBe('refused a');
  });

  it('times its windows on the monotonic clock: a host clock set back silences nothing', () => {
    jest.useFakeTimers();
    try {
      const logger = new Logger('test');
      jest
        .spyOn(logger, 'warn')
        .mockImplementation((line: unknown) => void lines.push(String(line)));
      const log = new RefusalLog(logger, 60_000);
      log.warn('a', 'refused a');
      jest.setSystemTime(Date.now() - 3_600_000);
      jest.advanceTimersByTime(60_000);
      log.warn('a', 'refused a');
      expect(lines).toEqual(['refused a', 'refused a']);
    } finally {
      jest.useRealTimers();
    }
  });

  it('remembers a bounded number of keys, and a flood of new keys does not silence it for good', () => {
    const log = logOf(60_000, 1000);
    for (let i = 0; i < 50_000; i++) log.warn(`address ${i}`, `refused ${i}`);
    // A thousand keys logged, then one line for the others, at the first of them.
    expect(lines).toHaveLength(1001);
    expect(lines.at(-1)).toBe('1 more refusal(s) of other kinds or callers not logged');
    expect((log as unknown as { keys: Map<string, unknown> }).keys.size).toBe(1000);
    // Within the window, the flood goes on unlogged (counted); a known key keeps its place.
    now += 30_000;
    log.warn('address 99999', 'refused 99999');
    log.warn('address 5', 'refused 5');
    expect(lines).toHaveLength(1001);
    // Once the window ended, a new key is logged again (the flood took no place for good), and
    // the count of the refusals not logged since the last such line: 48,999 + 1 left out, and
    // the one `address 5` held back when it was forgotten to make room.
    now += 30_000;
    log.warn('address 123456', 'refused 123456');
    expect(lines.slice(1001)).toEqual([
      'refused 123456',
      '49001 more refusal(s) of other kinds or callers not logged',
    ]);
    expect((log as unknown as { keys: Map<string, unknown> }).keys.size).toBeLessThanOrEqual(1000);
  });

  it('says, in the line for the keys left out, what forgotten keys held back', () => {
    const log = logOf(60_000, 2);
    log.warn('a', 'refused a');
    log.warn('b', 'refused b');
    log.warn('a', 'refused a');
    log.warn('a', 'refused a');
    now += 60_000;
    // `a` and `b` are forgotten to make room for `c`; `a`'s two held refusals are not lost.
    log.warn('c', 'refused c');
    log.warn('d', 'refused d');
    log.warn('e', 'refused e');
    expect(lines).toEqual([
      'refused a',
      'refused b',
      'refused c',
      '2 more refusal(s) of other kinds or callers not logged',
      'refused d',
    ]);
    // `e`, left out, is said with the next such line, a window later.
    now += 60_000;
    log.warn('d', 'refused d');
    expect(lines.slice(5)).toEqual([
      'refused d',
      '1 more refusal(s) of other kinds or callers not logged',
    ]);
  });
});
