import { Controller, INestMicroservice, Logger } from '@nestjs/common';
import { MessagePattern, RpcException, Transport } from '@nestjs/microservices';
import { Test } from '@nestjs/testing';
import { firstValueFrom, timeout, TimeoutError } from 'rxjs';

import { RpcConnectionClosedError } from '../../errors/rpc-connection-closed.error';
import { freePort } from '../../../testing/free-port';
import { startTcpRelay, TcpRelay } from '../../../testing/tcp-relay';
import { ReconnectingClientTCP } from './reconnecting-client-tcp';

@Controller()
class Echo {
  @MessagePattern('fast')
  fast() {
    return 'ok';
  }

  @MessagePattern('slow')
  async slow() {
    await new Promise((resolve) => setTimeout(resolve, 1500));
    return 'late';
  }

  @MessagePattern('fail')
  fail() {
    throw new RpcException({ status: 403, message: 'no' });
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('ReconnectingClientTCP', () => {
  let server: INestMicroservice;
  let relay: TcpRelay;
  let client: ReconnectingClientTCP;
  let connections: number;
  let warnings: jest.SpyInstance;

  const call = (pattern: string, ms = 300) =>
    firstValueFrom(client.send<string>(pattern, {}).pipe(timeout(ms)));

  beforeEach(async () => {
    warnings = jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
    const port = await freePort();
    const moduleRef = await Test.createTestingModule({ controllers: [Echo] }).compile();
    server = moduleRef.createNestMicroservice({
      transport: Transport.TCP,
      options: { host: '127.0.0.1', port },
      logger: false,
    });
    connections = 0;
    server.on('connection', () => connections++);
    await server.listen();
    relay = await startTcpRelay(port);
    client = new ReconnectingClientTCP(
      { host: '127.0.0.1', port: relay.port },
      { silentMs: 600, name: 'echo' },
    );
  });

  afterEach(async () => {
    await client.close();
    await relay.sever();
    await server.close();
    warnings.mockRestore();
  });

  it('drops a connection that went silent once a call is given up, and the next call connects again', async () => {
    expect(await call('fast')).toBe('ok');
    relay.strand();
    await expect(call('fast')).rejects.toBeInstanceOf(TimeoutError);
    await sleep(400);
    // Given up after 300 ms more, silent for 700: dropped.
    await expect(call('fast')).rejects.toBeInstanceOf(TimeoutError);
    expect(await call('fast')).toBe('ok');
    expect(connections).toBe(2);
    expect(warnings).toHaveBeenCalledWith(
      expect.stringMatching(/^echo answered nothing for \d+ ms while a call waited/),
    );
  });

  it('drops a silent connection however the host clock is set meanwhile', async () => {
    const realNow = Date.now;
    expect(await call('fast')).toBe('ok');
    // Set back an hour, a wall clock made the silence negative: the connection was kept.
    jest.spyOn(Date, 'now').mockImplementation(() => realNow() - 3_600_000);
    try {
      relay.strand();
      await expect(call('fast')).rejects.toBeInstanceOf(TimeoutError);
      await sleep(400);
      await expect(call('fast')).rejects.toBeInstanceOf(TimeoutError);
      expect(await call('fast')).toBe('ok');
      expect(connections).toBe(2);
    } finally {
      jest.restoreAllMocks();
      warnings = jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
    }
  });

  it('keeps a connection whose server is slow to one call but answers the others', async () => {
    const slow = call('slow');
    for (let i = 0; i < 10; i++) {
      expect(await call('fast')).toBe('ok');
      await sleep(100);
    }
    await expect(slow).rejects.toBeInstanceOf(TimeoutError);
    expect(await call('fast')).toBe('ok');
    expect(connections).toBe(1);
    expect(warnings).not.toHaveBeenCalled();
  });

  it('counts an error the server sends as an answer', async () => {
    // Its own client, silent for 2 s before it is dropped: a loaded machine that delays an
    // answer by a few hundred ms must not make the errors look like silence.
    await client.close();
    client = new ReconnectingClientTCP(
      { host: '127.0.0.1', port: relay.port },
      { silentMs: 2000, name: 'echo' },
    );
    for (let i = 0; i < 25; i++) {
      await expect(call('fail', 1000)).rejects.toMatchObject({ status: 403 });
      await sleep(100);
    }
    // Nothing but errors for 2.5 s, then a call given up: the server did answer.
    await expect(call('slow')).rejects.toBeInstanceOf(TimeoutError);
    expect(connections).toBe(1);
    expect(warnings).not.toHaveBeenCalled();
  });

  it('fails a call whose connection closes before its answer with RpcConnectionClosedError', async () => {
    const slow = call('slow', 3000);
    await sleep(100);
    relay.cut();
    await expect(slow).rejects.toBeInstanceOf(RpcConnectionClosedError);
    // Nest has forgotten the connection: the next call makes another.
    expect(await call('fast')).toBe('ok');
    expect(connections).toBe(2);
  });
});
