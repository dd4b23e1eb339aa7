import fc from 'fast-check';

import { ActivityCursor } from './activity-cursor';

describe('ActivityCursor', () => {
  it('gives back every cursor it encoded', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }),
        fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }),
        (at, id) => {
          expect(ActivityCursor.decode(ActivityCursor.encode({ at, id }))).toEqual({ at, id });
        },
      ),
    );
  });

  it('refuses anything it did not issue', () => {
    const forged = (text: string) => Buffer.from(text).toString('base64url');
    for (const token of [
      '',
      'x',
      '%00',
      'a'.repeat(65),
      '1.5',
      forged('1.0'),
      forged('-1.5'),
      forged('1.5.6'),
      forged('01.5'),
      forged('1.05'),
      forged('1. 5'),
      forged('99999999999999999.1'),
      forged('1.9007199254740993'),
      forged('NaN.1'),
      forged('1e3.1'),
      `${forged('1.5')}=`,
      `${forged('1.5')}.`,
      `${forged('1.5')}A`,
      Buffer.from('1.50').toString('base64'),
    ]) {
      expect(ActivityCursor.decode(token)).toBeNull();
    }
  });

  it('never throws, whatever the string', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary' }), (token) => {
        const cursor = ActivityCursor.decode(token);
        if (cursor) expect(ActivityCursor.encode(cursor)).toBe(token);
      }),
      { numRuns: 2000 },
    );
  });
});
