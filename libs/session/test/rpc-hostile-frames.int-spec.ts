import { connect as connectTcp } from 'node:net';
import { connect as connectTls, TLSSocket } from 'node:tls';

import { Logger } from '@nestjs/common';

import { SessionRpc } from '../src';
import {
  alice,
  RpcServer,
  startRpcServer,
  testCertificates,
  uniquePrefix,
  until,
} from './store-contract';
import { freePort } from '../src/testing';

jest.setTimeout(30_000);

const certificates = testCertificates();
afterAll(() => certificates.dispose());

/** Nest's framing of a request. */
function frame(pattern: unknown, data: unknown, id: unknown = 'x'): string {
  const json = JSON.stringify({ pattern, data, id });
  return `${json.length}#${json}`;
}

/** A raw caller over mutual TLS with a service's certificate, reading the answers it gets. */
interface RawCaller {
  socket: TLSSocket;
  /** The answers read so far, parsed, in order. */
  answers: { id: unknown; response?: unknown; err?: unknown }[];
  closed: () => boolean;
}

/**
 * A host of the service network speaking the session RPC's frames by hand, with a service's
 * certificate or none: what it may not do must be refused, what it breaks must not reach
 * another caller.
 */
describe('the session RPC against hand-made frames', () => {
  let rpc: RpcServer;
  let port: number;
  let warnings: jest.SpyInstance;
  const sockets: TLSSocket[] = [];

  beforeAll(async () => {
    warnings = jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
    port = await freePort();
    rpc = await startRpcServer(port, uniquePrefix(), certificates, undefined, {
      handshakeTimeout: 1_000,
    });
  });

  afterEach(() => sockets.splice(0).forEach((socket) => socket.destroy()));

  afterAll(async () => {
    await rpc?.server.close();
    warnings.mockRestore();
  });

  const connected = (name: string) =>
    new Promise<RawCaller>((resolve) => {
      let buffer = '';
      let closed = false;
      const answers: RawCaller['answers'] = [];
      const socket = connectTls(
        {
          socket: connectTcp({ port, host: '127.0.0.1' }),
          host: '127.0.0.1',
          ...certificates.remoteTls(name),
        },
        () => resolve({ socket, answers, closed: () => closed }),
      );
      sockets.push(socket);
      socket.setEncoding('utf8');
      socket.on('data', (chunk: string) => {
        buffer += chunk;
        for (let at = buffer.indexOf('#'); at > 0; at = buffer.indexOf('#')) {
          const length = Number(buffer.slice(0, at));
          if (buffer.length < at + 1 + length) break;
          answers.push(JSON.parse(buffer.slice(at + 1, at + 1 + length)));
          buffer = buffer.slice(at + 1 + length);
        }
      });
      socket.on('error', () => undefined);
      socket.on('close', () => (closed = true));
    });

  /** The first answer to `id` once it has come. */
  const answerTo = async (caller: RawCaller, id: unknown) => {
    await until(() => caller.answers.some((answer) => answer.id === id), 10_000);
    return caller.answers.find((answer) => answer.id === id);
  };

  it("refuses a validator's patch and get, with catalog's own certificate, and changes nothing", async () => {
    const { token, session } = await rpc.sessions.create(alice);
    const catalog = await connected('catalog');
    catalog.socket.write(frame(SessionRpc.patch, { token, attributes: { cart: 1 } }, 'p'));
    catalog.socket.write(frame(SessionRpc.get, { id: session.id }, 'g'));
    expect((await answerTo(catalog, 'p'))?.err).toMatchObject({ refused: true });
    expect((await answerTo(catalog, 'g'))?.err).toMatchObject({ refused: true });
    expect((await rpc.sessions.validate(token))?.attributes).toEqual({});
  });

  it('serves a frame that arrives one byte at a time', async () => {
    const { token, session } = await rpc.sessions.create(alice);
    const catalog = await connected('catalog');
    catalog.socket.setNoDelay(true);
    for (const byte of frame(SessionRpc.validate, { token }, 'v')) {
      await new Promise((resolve) => catalog.socket.write(byte, resolve));
    }
    expect((await answerTo(catalog, 'v'))?.response).toMatchObject({ id: session.id });
    expect(catalog.closed()).toBe(false);
  });

  it('answers the valid frames written with garbage, then closes the connection', async () => {
    const { token, session } = await rpc.sessions.create(alice);
    const contract = await connected('contract');
    // Read in one go: the patch is applied, and its caller must learn it was.
    contract.socket.write(
      frame(SessionRpc.validate, { token }, 'v') +
        frame(SessionRpc.patch, { token, attributes: { cart: 1 } }, 'p') +
        '12#not json at' +
        frame(SessionRpc.ping, {}, 'n'),
    );
    expect((await answerTo(contract, 'v'))?.response).toMatchObject({ id: session.id });
    expect((await answerTo(contract, 'p'))?.response).toBe(true);
    await until(contract.closed, 10_000);
    expect(contract.answers.map(({ id }) => id)).toEqual(['v', 'p']);
    expect((await rpc.sessions.validate(token))?.attributes).toEqual({ cart: 1 });
  });

  it('closes a connection that drips its handshake a byte at a time at the handshake timeout', async () => {
    const socket = connectTcp({ port, host: '127.0.0.1' });
    socket.on('error', () => undefined);
    let closed = false;
    socket.on('close', () => (closed = true));
    // The start of a TLS record holding a ClientHello, and then more of it, forever.
    const bytes = [0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03];
    let sent = 0;
    const drip = setInterval(() => {
      if (!closed) socket.write(Buffer.from([bytes[sent++ % bytes.length]]));
    }, 50);
    try {
      await until(() => closed, 10_000);
    } finally {
      clearInterval(drip);
      socket.destroy();
    }
    expect(sent).toBeGreaterThan(1);
  });

  it.each([
    ['a length far above the largest frame', `999999999999#{"pattern":"session.ping"`],
    ['a negative length', '-5#{}'],
    ['a length header with no end', '9'.repeat(80 * 1024)],
    ['a pattern that is an object', frame({ cmd: 'session.validate' }, {}, 'o')],
    ['an id that is an object', frame(SessionRpc.ping, {}, { nested: true })],
    [
      'no id (an event)',
      `${'{"pattern":"session.ping","data":{}}'.length}#{"pattern":"session.ping","data":{}}`,
    ],
    ['a frame that is JSON null', '4#null'],
    ['a pattern naming a method every object has', frame('constructor', {}, 'c')],
    ['a pattern naming __proto__', frame('__proto__', {}, 'c')],
  ])('drops or refuses %s, and serves the next caller', async (_, payload) => {
    const stranger = await connected('catalog');
    stranger.socket.write(payload);
    await until(
      () => stranger.closed() || stranger.answers.some(({ err }) => err !== undefined),
      10_000,
    );
    expect(stranger.answers.filter(({ response }) => response !== undefined)).toEqual([]);
    const next = await connected('catalog');
    next.socket.write(frame(SessionRpc.ping, {}, 'n'));
    expect(typeof (await answerTo(next, 'n'))?.response).toBe('number');
  });

  it('refuses a patch whose attributes nest too deep to weigh, and serves on', async () => {
    const { token } = await rpc.sessions.create(alice);
    const contract = await connected('contract');
    // Within the largest frame (64 KiB): it is the nesting that must be refused.
    const deep = '{"a":'.repeat(10_000) + '1' + '}'.repeat(10_000);
    const json = `{"pattern":"${SessionRpc.patch}","data":{"token":"${token}","attributes":{"x":${deep}}},"id":"d"}`;
    contract.socket.write(`${json.length}#${json}`);
    const answer = await answerTo(contract, 'd');
    expect(answer?.err).toBeDefined();
    contract.socket.write(frame(SessionRpc.ping, {}, 'n'));
    expect(typeof (await answerTo(contract, 'n'))?.response).toBe('number');
    expect((await rpc.sessions.validate(token))?.attributes).toEqual({});
  });

  it('refuses a patch naming __proto__ or another reserved name, and writes nothing', async () => {
    const { token } = await rpc.sessions.create(alice);
    const contract = await connected('contract');
    const json = `{"pattern":"${SessionRpc.patch}","data":{"token":"${token}","attributes":{"__proto__":{"admin":true}}},"id":"p"}`;
    contract.socket.write(`${json.length}#${json}`);
    expect((await answerTo(contract, 'p'))?.err).toBeDefined();
    const session = await rpc.sessions.validate(token);
    expect(Object.keys(session?.attributes ?? {})).toEqual([]);
  });

  it('replays a patch frame after its session was rotated: refused, the new session untouched', async () => {
    const { token } = await rpc.sessions.create(alice);
    const contract = await connected('contract');
    const patch = frame(SessionRpc.patch, { token, attributes: { cart: 1 } }, 'p1');
    contract.socket.write(patch);
    expect((await answerTo(contract, 'p1'))?.response).toBe(true);
    const rotated = await rpc.sessions.rotate(token);
    if (!rotated) throw new Error('the session was not rotated');
    await rpc.sessions.patch(rotated.session.id, { cart: 2 });
    // The same frame, byte for byte but its id (the same length).
    contract.socket.write(patch.replace('"p1"', '"p2"'));
    expect((await answerTo(contract, 'p2'))?.response).toBe(false);
    expect((await rpc.sessions.validate(rotated.token))?.attributes).toEqual({ cart: 2 });
  });
});
