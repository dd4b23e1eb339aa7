import { decodeSession, encodeNewSession, timestampFields } from './session-fields';

const user = { id: 'u1', username: 'alice', roles: ['customer'] };

describe('session hash fields', () => {
  it('round-trips a new session, device and persistence included', () => {
    const flat = [
      ...encodeNewSession({
        digest: 'd',
        user,
        device: 'Firefox 133 on Linux',
        persistent: true,
        attributes: {},
      }),
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
    const flat = encodeNewSession({ digest: 'd', user, attributes: {} });
    expect(flat).not.toContain('p');
    expect(flat).not.toContain('d');
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
    expect(session.expiresAt).toBe(1900);
    expect(session.device).toBeUndefined();
  });
});
