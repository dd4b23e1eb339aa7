import { readSessionTokens } from './request-token.reader';

describe('readSessionTokens', () => {
  it('finds nothing in a request without a session cookie or bearer header', () => {
    expect(readSessionTokens({}, 'cr_session')).toEqual([]);
    expect(
      readSessionTokens({ cookie: 'other=1', authorization: 'Basic abc' }, 'cr_session'),
    ).toEqual([]);
  });

  it('reads the session cookie first, then the bearer token', () => {
    expect(
      readSessionTokens(
        { cookie: 'a=1; cr_session=from-cookie', authorization: 'Bearer from-header' },
        'cr_session',
      ),
    ).toEqual([
      { token: 'from-cookie', source: 'cookie' },
      { token: 'from-header', source: 'bearer' },
    ]);
  });

  it('accepts the bearer scheme in any case', () => {
    for (const scheme of ['bearer', 'BEARER', 'Bearer']) {
      expect(readSessionTokens({ authorization: `${scheme} t` }, 'cr_session')).toEqual([
        { token: 't', source: 'bearer' },
      ]);
    }
  });

  it('reads the cookie under the name it is given', () => {
    const headers = { cookie: 'cr_session=plain; __Host-cr_session=secure' };
    expect(readSessionTokens(headers, '__Host-cr_session')).toEqual([
      { token: 'secure', source: 'cookie' },
    ]);
  });

  it('ignores an empty session cookie', () => {
    expect(readSessionTokens({ cookie: 'cr_session=' }, 'cr_session')).toEqual([]);
  });
});
