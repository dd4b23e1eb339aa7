import fc from 'fast-check';

import { ActivityCursor } from './activity-cursor';

const USER = '5f0c2a52-5b8e-4b7e-9d43-0c6b2f1e7a10';

describe('ActivityCursor', () => {
  it('gives back every cursor it encoded, for the log it was issued for', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }),
        fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }),
        fc.uuid(),
        (at, id, userId) => {
          const token = ActivityCursor.encode({ at, id }, userId);
          expect(ActivityCursor.decode(token, userId)).toEqual({ at, id });
          expect(token.length).toBeLessThanOrEqual(64);
        },
      ),
    );
  });

  it("refuses a cursor issued for another user's log", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }),
        fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }),
        fc.uuid(),
        fc.uuid(),
        (at, id, issuedFor, presentedBy) => {
          fc.pre(issuedFor !== presentedBy);
          const token = ActivityCursor.encode({ at, id }, issuedFor);
          expect(ActivityCursor.decode(token, presentedBy)).toBeNull();
        },
      ),
    );
  });

  it('refuses anything it did not issue', () => {
    const forged = (text: string) => Buffer.from(text).toString('base64url');
    const issued = ActivityCursor.encode({ at: 1, id: 5 }, USER);
    const tag = Buffer.from(issued, 'base64url').toString('latin1').split('.')[2];
    for (const token of [
      '',
      'x',
      '%00',
      'a'.repeat(65),
      '1.5',
      // The format before cursors were bound to a log.
      forged('1.5'),
      forged(`1.0.${tag}`),
      forged(`-1.5.${tag}`),
      forged(`1.5.6.${tag}`),
      forged(`01.5.${tag}`),
      forged(`1.05.${tag}`),
      forged(`1. 5.${tag}`),
      forged(`99999999999999999.1.${tag}`),
      forged(`1.9007199254740993.${tag}`),
      forged(`NaN.1.${tag}`),
      forged(`1e3.1.${tag}`),
      forged(`1.5.${tag}x`),
      forged(`1.5.${tag.slice(1)}`),
      forged('1.5.AAAAAAAA'),
      `${issued}=`,
      `${issued}.`,
      `${issued}A`,
      `${issued}==`,
    ]) {
      expect(ActivityCursor.decode(token, USER)).toBeNull();
    }
    expect(ActivityCursor.decode(issued, USER)).toEqual({ at: 1, id: 5 });
  });

  it('never throws, whatever the string', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary' }), (token) => {
        const cursor = ActivityCursor.decode(token, USER);
        if (cursor) expect(ActivityCursor.encode(cursor, USER)).toBe(token);
      }),
      { numRuns: 2000 },
    );
  });
});
