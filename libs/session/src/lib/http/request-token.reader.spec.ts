import { parse } from 'cookie';

import { rawHeadersOf, readSessionToken, readSessionTokens } from './request-token.reader';

// The real parser, counted: how many cookie pairs a read parses is its cost.
jest.mock('cookie', () => {
  const actual = jest.requireActual<typeof import('cookie')>('cookie');
  return { ...actual, parse: jest.fn(actual.parse) };
});

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

  it('reads every distinct value of the session cookie, in the order sent', () => {
    const headers = {
      cookie: 'cr_session=planted; a=1;cr_session=real ; xcr_session=other; cr_session=planted',
      authorization: 'Bearer from-header',
    };
    expect(readSessionTokens(headers, 'cr_session')).toEqual([
      { token: 'planted', source: 'cookie' },
      { token: 'real', source: 'cookie' },
      { token: 'from-header', source: 'bearer' },
    ]);
  });

  it('reads the values of every Cookie header', () => {
    expect(
      readSessionTokens({ cookie: ['cr_session=one', 'a=1; cr_session=two'] }, 'cr_session'),
    ).toEqual([
      { token: 'one', source: 'cookie' },
      { token: 'two', source: 'cookie' },
    ]);
  });
});

describe('readSessionToken', () => {
  it('answers the session cookie, else the bearer token, else null', () => {
    expect(
      readSessionToken({ cookie: 'cr_session=t', authorization: 'Bearer t' }, 'cr_session'),
    ).toEqual({ token: 't', source: 'cookie' });
    expect(readSessionToken({ authorization: 'Bearer b' }, 'cr_session')).toEqual({
      token: 'b',
      source: 'bearer',
    });
    expect(readSessionToken({ cookie: 'other=1' }, 'cr_session')).toBeNull();
  });

  it('answers null for several different session cookies, bearer token or not', () => {
    for (const authorization of [undefined, 'Bearer b']) {
      expect(
        readSessionToken(
          { cookie: 'cr_session=planted; cr_session=real', authorization },
          'cr_session',
        ),
      ).toBeNull();
    }
  });

  it('answers null for a session cookie and a bearer token that differ, whichever is planted', () => {
    for (const authorization of ['Bearer b', 'bearer  b ', 'Bearer ']) {
      expect(readSessionToken({ cookie: 'cr_session=c', authorization }, 'cr_session')).toBeNull();
    }
  });

  it('takes a session cookie sent twice with the same value', () => {
    expect(readSessionToken({ cookie: 'cr_session=t; cr_session=t' }, 'cr_session')).toEqual({
      token: 't',
      source: 'cookie',
    });
  });

  it('reads only the cookie of its exact name: a __Host- name and the plain one are two cookies', () => {
    // Any page of the host can set the plain name (another port, no Secure); none can set the
    // __Host- one but the origin itself.
    const both = 'cr_session=planted; __Host-cr_session=real; __host-cr_session=x; CR_SESSION=y';
    expect(readSessionToken({ cookie: both }, '__Host-cr_session')).toEqual({
      token: 'real',
      source: 'cookie',
    });
    expect(readSessionToken({ cookie: both }, 'cr_session')).toEqual({
      token: 'planted',
      source: 'cookie',
    });
    expect(
      readSessionToken({ cookie: 'xcr_session=a; cr_session_old=b' }, 'cr_session'),
    ).toBeNull();
  });

  it('stops at the second different value of the cookie: a header packed with them costs two', () => {
    const packed = Array.from({ length: 1000 }, (_, i) => `cr_session=v${i}`).join('; ');
    jest.mocked(parse).mockClear();
    expect(readSessionToken({ cookie: packed }, 'cr_session')).toBeNull();
    expect(jest.mocked(parse)).toHaveBeenCalledTimes(2);
    // The same value repeated is one value: read to the end, still accepted.
    const repeated = Array.from({ length: 1000 }, () => 'cr_session=t').join('; ');
    expect(readSessionToken({ cookie: repeated }, 'cr_session')).toEqual({
      token: 't',
      source: 'cookie',
    });
    // Listing them reads every one, in order.
    const listed = readSessionTokens({ cookie: packed }, 'cr_session');
    expect(listed.map(({ token }) => token)).toEqual(
      Array.from({ length: 1000 }, (_, i) => `v${i}`),
    );
  });

  it('answers null when the header lines as received name Authorization twice, in any case', () => {
    const headers = { authorization: 'Bearer first' };
    for (const lines of [
      ['Authorization', 'Bearer first', 'Authorization', 'Bearer second'],
      ['authorization', 'Bearer first', 'Host', 'x', 'AUTHORIZATION', 'Bearer first'],
      ['Authorization', 'Bearer first', 'aUTHORIZATION', 'Basic eA=='],
    ]) {
      expect({ lines, found: readSessionToken(headers, 'cr_session', lines) }).toEqual({
        lines,
        found: null,
      });
    }
    const cookie = { cookie: 'cr_session=t' };
    expect(
      readSessionToken(cookie, 'cr_session', ['Authorization', 'x', 'Authorization', 'y']),
    ).toBeNull();
  });

  it('reads one Authorization line among others, and headers alone without the lines', () => {
    const headers = { authorization: 'Bearer b' };
    const lines = ['Host', 'x', 'Authorizations', 'y', 'Authorization', 'Bearer b', 'X-Auth', 'z'];
    expect(readSessionToken(headers, 'cr_session', lines)).toEqual({
      token: 'b',
      source: 'bearer',
    });
    expect(readSessionToken(headers, 'cr_session')).toEqual({ token: 'b', source: 'bearer' });
  });
});

describe('rawHeadersOf', () => {
  it('finds the header lines on an Express request and on a Fastify request, else undefined', () => {
    const lines = ['Host', 'x'];
    expect(rawHeadersOf({ rawHeaders: lines })).toBe(lines);
    expect(rawHeadersOf({ raw: { rawHeaders: lines } })).toBe(lines);
    expect(rawHeadersOf({ headers: {} })).toBeUndefined();
  });
});
