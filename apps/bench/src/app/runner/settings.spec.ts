import { positiveInteger, positiveIntegers } from './settings';

describe('bench settings from the environment', () => {
  it('reads one positive integer, or the fallback when the variable is not set', () => {
    expect(positiveInteger('N', 7, {})).toBe(7);
    expect(positiveInteger('N', 7, { N: '20' })).toBe(20);
    for (const text of ['0', '-3', '1.5', 'ten', '']) {
      expect(() => positiveInteger('N', 7, { N: text })).toThrow(`N must be a positive integer`);
    }
  });

  it('reads a comma-separated list of them, each checked', () => {
    expect(positiveIntegers('RATES', [], {})).toEqual([]);
    expect(positiveIntegers('RATES', [], { RATES: '700' })).toEqual([700]);
    expect(positiveIntegers('RATES', [], { RATES: '700, 1800,3600' })).toEqual([700, 1800, 3600]);
    expect(() => positiveIntegers('RATES', [], { RATES: '700,,3600' })).toThrow(
      'RATES must be a positive integer, not ',
    );
    expect(() => positiveIntegers('RATES', [], { RATES: '700,fast' })).toThrow(
      'RATES must be a positive integer, not fast',
    );
  });
});
