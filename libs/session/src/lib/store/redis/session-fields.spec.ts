import type { Session } from '../../session.types';
import { changesSeenWith } from '../user-changes';
import {
  decodeSession,
  decodeValidated,
  encodeNewSession,
  timestampFields,
} from './session-fields';

const user = { id: 'u1', username: 'alice', roles: ['customer'] };

describe('session hash fields', () => {
  it('round-trips a new session, device and persistence included', () => {
    const flat = [
      ...encodeNewSession(
        {
          digest: 'd',
          user,
          device: 'Firefox 133 on Linux',
          persistent: true,
          attributes: {},
        },
        false,
      ),
      ...timestampFields(1000, 60_000, 600_000),
    ];
    expect(decodeSession('id', flat, 1)).toMatchObject({
      createdAt: 1000,
      authenticatedAt: 1000,
      expiresAt: 61_000,
      absoluteExpiresAt: 601_000,
      persistent: true,
      device: 'Firefox 133 on Linux',
    });
    expect(flat[flat.indexOf('v') + 1]).toBe('3');
  });

  it('writes no persistence field for an ordinary session', () => {
    const flat = encodeNewSession({ digest: 'd', user, attributes: {} }, true);
    expect(flat).not.toContain('p');
    expect(flat).not.toContain('d');
  });

  it('keeps the raw user agent only when asked, and the device label always', () => {
    const record = {
      digest: 'd',
      user,
      device: 'Chrome 131 on Windows',
      userAgent: 'Mozilla/5.0 '.repeat(10),
      attributes: {},
    };
    const labelOnly = decodeSession('id', encodeNewSession(record, false), 1);
    expect(labelOnly?.device).toBe('Chrome 131 on Windows');
    expect(labelOnly).not.toHaveProperty('userAgent');
    expect(decodeSession('id', encodeNewSession(record, true), 1)?.userAgent).toBe(
      record.userAgent,
    );
  });

  it('reads a session written before schema 3 as authenticated at creation, not persistent', () => {
    const legacy = [
      'u',
      'u1',
      'n',
      'alice',
      'r',
      '[]',
      'v',
      '2',
      'c',
      '500',
      't',
      '900',
      'x',
      '9000',
    ];
    const session = decodeSession('id', [...legacy, 'i', '1000'], 60_000);
    expect(session).toMatchObject({ createdAt: 500, authenticatedAt: 500, persistent: false });
    expect(session?.expiresAt).toBe(1900);
    expect(session?.device).toBeUndefined();
  });

  it('reads no session from a hash without an owner, or whose roles are not strings', () => {
    const flat = [...encodeNewSession({ digest: 'd', user, attributes: {} }, false)];
    const without = (field: string) => flat.filter((_, i) => flat[i - (i % 2)] !== field);
    const roles = (value: string) => flat.map((entry, i) => (flat[i - 1] === 'r' ? value : entry));
    expect(decodeSession('id', flat, 1)).toMatchObject({ userId: 'u1', roles: ['customer'] });
    for (const damaged of [
      without('u'),
      without('r'),
      ...['"admin"', 'null', '{"0":"admin"}', '[1]', 'admin'].map(roles),
    ]) {
      expect(decodeSession('id', damaged, 1)).toBeNull();
    }
    const compact = (values: string[]) => decodeValidated('id', values.join('\0'), 1);
    const fields = ['u1', 'alice', '["customer"]', '500', '900', '9000', '', '', '', '', '', ''];
    expect(compact(fields)).toMatchObject({ userId: 'u1', roles: ['customer'] });
    expect(compact(['', ...fields.slice(1)])).toBeNull();
    expect(compact([fields[0], fields[1], '"admin"', ...fields.slice(3)])).toBeNull();
  });

  describe('decodeValidated (validate.lua’s one-string reply)', () => {
    /** The reply validate.lua builds for these values, in its order. */
    const reply = (values: string[], attributes: string[] = []) =>
      [...values, ...attributes].join('\0');

    it('reads every field from its position, as decodeSession reads the hash', () => {
      const flat = [
        ...encodeNewSession(
          {
            digest: 'd',
            user: { id: 'u1', username: 'al:ice', roles: ['customer', 'a:b'] },
            device: 'Firefox 133 on Linux',
            ip: '2001:db8::1',
            userAgent: 'UA/1',
            persistent: true,
            attributes: { cart: { items: [1, 2] }, 'a:b': 'x' },
          },
          true,
        ),
        ...timestampFields(1000, 60_000, 600_000),
      ];
      const compact = reply(
        [
          'u1',
          'al:ice',
          '["customer","a:b"]',
          '1000',
          '1000',
          '601000',
          '60000',
          '1000',
          '1',
          'Firefox 133 on Linux',
          '2001:db8::1',
          'UA/1',
          'c1 c2',
        ],
        ['cart', '{"items":[1,2]}', 'a:b', '"x"'],
      );
      const session = decodeValidated('id', compact, 1);
      expect(session).toEqual(decodeSession('id', flat, 1));
      expect(changesSeenWith(session as Session)).toEqual(['c1', 'c2']);
    });

    it('reads a session written before schema 3, or before schema 2, as decodeSession does', () => {
      const legacy = ['u', 'u1', 'n', 'alice', 'r', '[]', 'v', '2', 'c', '500', 't', '900'];
      const v2 = reply(['u1', 'alice', '[]', '500', '900', '9000', '1000', '', '', '', '', '']);
      expect(decodeValidated('id', v2, 60_000)).toEqual(
        decodeSession('id', [...legacy, 'x', '9000', 'i', '1000'], 60_000),
      );
      // Schema 1: no idle timeout of its own, it slides by the caller's.
      const v1 = reply(['u1', 'alice', '[]', '500', '900', '90000', '', '', '', '', '', '']);
      const session = decodeValidated('id', v1, 60_000);
      expect(session).toEqual(decodeSession('id', [...legacy, 'x', '90000'], 60_000));
      expect(session).toMatchObject({ authenticatedAt: 500, expiresAt: 60_900, persistent: false });
      expect(session).not.toHaveProperty('device');
      expect(session).not.toHaveProperty('ip');
      expect(session).not.toHaveProperty('userAgent');
    });
  });
});
