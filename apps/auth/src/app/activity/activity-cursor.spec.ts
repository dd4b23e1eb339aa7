import fc from 'fast-check';

import { ActivityCursorCodec } from './activity-cursor';

const USER = '5f0c2a52-5b8e-4b7e-9d43-0c6b2f1e7a10';
const SECRET = 'a-secret-of-at-least-thirty-two-characters';

const forged = (text: string) => Buffer.from(text).toString('base64url');
const partsOf = (token: string) => Buffer.from(token, 'base64url').toString('latin1').split('.');

describe('ActivityCursorCodec', () => {
  const cursors = new ActivityCursorCodec(SECRET);
  const position = fc.record({
    at: fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }),
    id: fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }),
  });

  it('gives back every cursor it encoded, for the log it was issued for', () => {
    fc.assert(
      fc.property(position, fc.uuid(), (cursor, userId) => {
        const token = cursors.encode(cursor, userId);
        expect(cursors.decode(token, userId)).toEqual(cursor);
        expect(token.length).toBeLessThanOrEqual(80);
      }),
    );
  });

  it('reads the cursors of another instance with the same secret', () => {
    const other = new ActivityCursorCodec(SECRET);
    fc.assert(
      fc.property(position, fc.uuid(), (cursor, userId) => {
        expect(other.decode(cursors.encode(cursor, userId), userId)).toEqual(cursor);
      }),
    );
  });

  it("refuses a cursor issued for another user's log", () => {
    fc.assert(
      fc.property(position, fc.uuid(), fc.uuid(), (cursor, issuedFor, presentedBy) => {
        fc.pre(issuedFor !== presentedBy);
        expect(cursors.decode(cursors.encode(cursor, issuedFor), presentedBy)).toBeNull();
      }),
    );
  });

  it('refuses a cursor whose position was changed, its tag kept', () => {
    fc.assert(
      fc.property(position, position, fc.uuid(), (issued, changed, userId) => {
        fc.pre(issued.at !== changed.at || issued.id !== changed.id);
        const tag = partsOf(cursors.encode(issued, userId))[2];
        expect(cursors.decode(forged(`${changed.at}.${changed.id}.${tag}`), userId)).toBeNull();
      }),
    );
  });

  it('refuses a cursor signed with another secret', () => {
    fc.assert(
      fc.property(position, fc.uuid(), fc.string({ minLength: 32 }), (cursor, userId, secret) => {
        fc.pre(secret !== SECRET);
        const foreign = new ActivityCursorCodec(secret).encode(cursor, userId);
        expect(cursors.decode(foreign, userId)).toBeNull();
      }),
    );
  });

  it('refuses an issued cursor with any one character changed, added or removed', () => {
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_=.%';
    fc.assert(
      fc.property(
        position,
        fc.uuid(),
        fc.nat(),
        fc.constantFrom(...alphabet),
        fc.constantFrom('replace', 'insert', 'delete'),
        (cursor, userId, at, character, edit) => {
          const token = cursors.encode(cursor, userId);
          const index = at % (token.length + (edit === 'insert' ? 1 : 0));
          const mutated =
            token.slice(0, index) +
            (edit === 'delete' ? '' : character) +
            token.slice(index + (edit === 'insert' ? 0 : 1));
          fc.pre(mutated !== token);
          expect(cursors.decode(mutated, userId)).toBeNull();
        },
      ),
      { numRuns: 2000 },
    );
  });

  it('refuses anything it did not issue', () => {
    const issued = cursors.encode({ at: 1, id: 5 }, USER);
    const tag = partsOf(issued)[2];
    for (const token of [
      '',
      'x',
      '%00',
      'a'.repeat(81),
      '1.5',
      // The formats before cursors were bound to a log, and before their tag was keyed.
      forged('1.5'),
      forged(`1.5.${tag.slice(0, 8)}`),
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
      forged(`1.5.${'A'.repeat(22)}`),
      `${issued}=`,
      `${issued}.`,
      `${issued}A`,
      `${issued}==`,
    ]) {
      expect(cursors.decode(token, USER)).toBeNull();
    }
    expect(cursors.decode(issued, USER)).toEqual({ at: 1, id: 5 });
  });

  it('never throws, whatever the string', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary' }), (token) => {
        const cursor = cursors.decode(token, USER);
        if (cursor) expect(cursors.encode(cursor, USER)).toBe(token);
      }),
      { numRuns: 2000 },
    );
  });
});
