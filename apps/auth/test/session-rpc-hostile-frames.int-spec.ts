import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { connect as connectTls, ConnectionOptions, TLSSocket } from 'node:tls';

import { Logger } from '@nestjs/common';
import request from 'supertest';

import { SessionService } from '@cloakroom/session';
import { readRpcFrames } from '@cloakroom/session/testing';

import { PASSWORD_STAMP } from '../src/app/users/password-stamp';
import { AuthApp, createUser, loginWithBearer, loginWithCookie, startAuthApp } from './auth-app';

interface Answer {
  id: unknown;
  response?: unknown;
  err?: unknown;
}

/** A raw TLS connection to the session RPC: frames written by hand, answers as they come. */
interface RawConnection {
  socket: TLSSocket;
  answers: Answer[];
  closed(): boolean;
  /** Writes `payload` and waits for `count` more answers, or for the connection to close. */
  send(payload: string | Buffer, count?: number): Promise<Answer[]>;
}

function openRaw(port: number, options: ConnectionOptions): Promise<RawConnection> {
  return new Promise((resolve, reject) => {
    let closed = false;
    const answers: Answer[] = [];
    const waiters: Array<() => void> = [];
    const wake = () => waiters.splice(0).forEach((waiter) => waiter());
    const socket = connectTls({ host: '127.0.0.1', port, ...options }, () =>
      resolve({
        socket,
        answers,
        closed: () => closed,
        send: (payload, count = 1) => {
          const from = answers.length;
          socket.write(payload);
          return new Promise((answered) => {
            const check = () => {
              if (answers.length - from >= count || closed) answered(answers.slice(from));
              else waiters.push(check);
            };
            check();
          });
        },
      }),
    );
    readRpcFrames(socket, (answer) => {
      answers.push(answer as Answer);
      wake();
    });
    socket.on('error', (error) => (closed ? undefined : reject(error)));
    socket.on('close', () => {
      closed = true;
      wake();
    });
  });
}

/** Nest's framing, written by hand: `<length of the JSON>#<JSON>`. */
const framed = (json: string) => `${json.length}#${json}`;
const frame = (pattern: unknown, data: unknown, id: unknown = randomUUID()) =>
  framed(JSON.stringify({ pattern, data, id }));

const NO_HANDLER = 'There is no matching message handler defined in the remote service.';

describe('the session RPC, fed hostile frames by callers with and without a place in it', () => {
  let auth: AuthApp;
  let victim: { token: string; sessionId: string };
  let errors: jest.SpyInstance;

  const withCertificate = (files: { cert: string; key: string }, extra: ConnectionOptions = {}) =>
    openRaw(auth.rpcPort, {
      ca: readFileSync(auth.certificates.ca),
      cert: readFileSync(files.cert),
      key: readFileSync(files.key),
      ...extra,
    });
  const catalog = () => withCertificate(auth.certificates.clients['catalog']);
  const orders = () => withCertificate(auth.certificates.clients['orders']);

  /** A client certificate signed by auth's own CA, for a name the capability table does not hold. */
  const issue = (name: string) => {
    const base = join(auth.certificates.dir, `unlisted-${Buffer.from(name).toString('hex')}`);
    const files = { cert: `${base}.crt`, key: `${base}.key` };
    execFileSync('openssl', [
      ...['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'],
      ...['-days', '30', '-subj', `/CN=${name}`, '-keyout', files.key, '-out', files.cert],
      ...['-CA', auth.certificates.ca, '-CAkey', join(auth.certificates.dir, 'ca.key')],
      ...['-addext', 'extendedKeyUsage=clientAuth'],
    ]);
    return files;
  };

  const stored = () => auth.app.get(SessionService).get(victim.sessionId);

  beforeAll(async () => {
    errors = jest.spyOn(Logger.prototype, 'error');
    auth = await startAuthApp('session-rpc-hostile');
    const adminCookie = (await loginWithCookie(auth.http, 'admin', 'admin-password')).cookie;
    const user = await createUser(auth.http, adminCookie);
    const login = await loginWithBearer(auth.http, user.username, user.password);
    victim = { token: login.token, sessionId: login.body.session.id };
  });

  afterAll(async () => {
    errors.mockRestore();
    await auth?.close();
  });

  afterEach(() => {
    // No frame of any test here is an error of auth's: refusals are warnings, once per caller.
    expect(errors).not.toHaveBeenCalled();
  });

  it("refuses every call of a certificate the deployment's CA signed for a name not in the table, whatever the name", async () => {
    const before = await stored();
    for (const name of [
      'gateway',
      'toString',
      '__proto__',
      'hasOwnProperty',
      '(no client certificate)',
    ]) {
      const caller = await withCertificate(issue(name));
      const calls = [
        frame('session.validate', { token: victim.token }),
        frame('session.validate-many', { tokens: [victim.token] }),
        frame('session.get', { id: victim.sessionId }),
        frame('session.patch', { token: victim.token, attributes: { 'orders.cart': 1 } }),
        frame('session.ping', {}),
      ];
      const answers = await caller.send(calls.join(''), calls.length);
      expect(answers.map((answer) => answer.err)).toEqual(
        calls.map(() => ({ refused: true, message: 'refused: not in the capability table' })),
      );
      caller.socket.destroy();
    }
    // Nothing was validated (no idle slide) and nothing written.
    expect(await stored()).toEqual(before);
  });

  it('serves orders none of the calls only auth makes, and changes nothing', async () => {
    const before = await stored();
    const caller = await orders();
    const calls = [
      frame('session.create', { user: { id: 'x', username: 'x', roles: ['admin'] } }),
      frame('session.setRoles', { userId: 'x', roles: ['admin'] }),
      frame('session.setRolesForUser', { userId: 'x', roles: ['admin'] }),
      frame('session.revokeEverything', {}),
      frame('session.destroyAllForUser', { userId: 'x' }),
      frame('session.rotate', { token: victim.token }),
      frame('session.destroy', { token: victim.token }),
    ];
    const answers = await caller.send(calls.join(''), calls.length);
    expect(answers.map((answer) => answer.err)).toEqual(calls.map(() => NO_HANDLER));
    caller.socket.destroy();
    expect(await stored()).toEqual(before);
  });

  it('answers a pattern named after an Object property, or any odd pattern, as unknown, and serves the connection on', async () => {
    const caller = await catalog();
    const deep = '['.repeat(8000) + ']'.repeat(8000);
    const patterns = [
      ...['toString', 'constructor', '__proto__', 'hasOwnProperty', 'valueOf', '__defineGetter__'],
      ...['x'.repeat(60_000), null, 5, true, [], {}, ['session.validate']],
      ...[{ cmd: 'session.validate' }, JSON.parse('{"__proto__":"session.validate"}')],
    ].map((pattern) => frame(pattern, { token: victim.token }));
    patterns.push(framed(`{"pattern":${deep},"data":{},"id":"deep"}`));
    const answers = await caller.send(patterns.join(''), patterns.length);
    expect(answers.map((answer) => answer.err)).toEqual(patterns.map(() => NO_HANDLER));
    const [validated] = await caller.send(frame('session.validate', { token: victim.token }));
    expect(validated.response).toMatchObject({ id: victim.sessionId });
    caller.socket.destroy();
  });

  it('reads __proto__ and constructor keys of a frame as plain data, never as what an object inherits', async () => {
    const caller = await catalog();
    const answers = await caller.send(
      [
        framed(
          `{"pattern":"session.validate","data":{"__proto__":{"token":"${victim.token}"}},"id":"a"}`,
        ),
        framed(
          `{"pattern":"session.get","data":{"constructor":{"id":"${victim.sessionId}"}},"id":"b"}`,
        ),
        framed(
          `{"pattern":"session.validate-many","data":{"tokens":{"length":1,"0":"${victim.token}"}},"id":"c"}`,
        ),
        framed(`{"__proto__":{"id":"inherited"},"pattern":"session.ping","data":{},"id":"d"}`),
      ].join(''),
      4,
    );
    const byId = Object.fromEntries(answers.map((answer) => [answer.id, answer]));
    expect(byId['a']).toMatchObject({ response: null });
    expect(byId['b']).toMatchObject({ response: null });
    expect(byId['c']).toMatchObject({ err: { message: 'Malformed session request: tokens' } });
    expect(byId['d']).toMatchObject({ response: expect.any(Number) });
    expect(byId['inherited']).toBeUndefined();
    caller.socket.destroy();
  });

  it('answers each of two requests that share an id, on one connection, with its own result', async () => {
    const caller = await catalog();
    const forged = `cr1.${victim.token.split('.')[1]}.${'A'.repeat(43)}`;
    const answers = await caller.send(
      frame('session.validate', { token: victim.token }, 'same') +
        frame('session.validate', { token: forged }, 'same') +
        frame('session.validate', { token: victim.token }, 'same'),
      3,
    );
    expect(answers.map((answer) => answer.id)).toEqual(['same', 'same', 'same']);
    const found = answers.map((answer) => (answer.response as { id?: string } | null)?.id ?? null);
    expect(found.sort()).toEqual([null, victim.sessionId, victim.sessionId].sort());
    caller.socket.destroy();
  });

  it.each([
    ['a length of 2^32', '4294967296#{}'],
    ['a length of 2^32 - 1', '4294967295#'],
    ['a length past what a number holds', '99999999999999999999#'],
    ['a length of 0', '0#'],
    ['a negative zero', '-0#'],
    ['a hexadecimal length', '0x10#{}'],
    ['a fractional length', '2.5#{}'],
    ['an empty length', '#{}'],
    ['bytes that are not UTF-8', Buffer.from([0xff, 0xfe, 0x32, 0x23, 0xc0, 0x80])],
  ])('closes a connection whose frame has %s, and serves the next', async (_, payload) => {
    const caller = await catalog();
    expect(await caller.send(payload)).toEqual([]);
    expect(caller.closed()).toBe(true);
    const next = await catalog();
    const [validated] = await next.send(frame('session.validate', { token: victim.token }));
    expect(validated.response).toMatchObject({ id: victim.sessionId });
    next.socket.destroy();
  });

  it('refuses a TLS 1.2 handshake, and keeps a connection whose caller asks for renegotiation', async () => {
    await expect(
      withCertificate(auth.certificates.clients['catalog'], { maxVersion: 'TLSv1.2' }),
    ).rejects.toThrow(/protocol version/);
    const caller = await catalog();
    const refused = await new Promise<Error | null>((resolve) =>
      caller.socket.renegotiate({}, (error) => resolve(error)),
    );
    // TLS 1.3 has no renegotiation: the caller's own TLS refuses it, and the connection goes on.
    expect(refused?.message).toMatch(/wrong ssl version/);
    const [validated] = await caller.send(frame('session.validate', { token: victim.token }));
    expect(validated.response).toMatchObject({ id: victim.sessionId });
    caller.socket.destroy();
  });

  it('serves a captured patch frame replayed only to a caller allowed it, and nothing once the session is revoked', async () => {
    const adminCookie = (await loginWithCookie(auth.http, 'admin', 'admin-password')).cookie;
    const user = await createUser(auth.http, adminCookie);
    const login = await loginWithBearer(auth.http, user.username, user.password);
    const sessions = auth.app.get(SessionService);
    const captured = frame(
      'session.patch',
      { token: login.token, attributes: { 'orders.cart': 1 } },
      'captured',
    );
    // The token in it is the credential: orders, on any connection, may send it again.
    for (const connection of [await orders(), await orders()]) {
      expect((await connection.send(captured))[0]).toMatchObject({ response: true });
      connection.socket.destroy();
    }
    const byCatalog = await catalog();
    expect((await byCatalog.send(captured))[0]).toMatchObject({
      err: { message: 'refused: may not call patch' },
    });
    byCatalog.socket.destroy();
    await request(auth.http)
      .post('/api/auth/logout')
      .set('Authorization', `Bearer ${login.token}`)
      .expect(204);
    const after = await orders();
    const answers = await after.send(
      captured + frame('session.validate', { token: login.token }, 'validate'),
      2,
    );
    const byId = Object.fromEntries(answers.map((answer) => [answer.id, answer.response]));
    expect(byId).toEqual({ captured: false, validate: null });
    after.socket.destroy();
    // A patch never brings a revoked session back.
    expect(await sessions.get(login.body.session.id)).toBeNull();
    expect((await stored())?.attributes).toEqual({ [PASSWORD_STAMP]: expect.any(String) });
  });
});
