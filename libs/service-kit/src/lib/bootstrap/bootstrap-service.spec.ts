import { createServer, Server } from 'node:net';

import { Controller, Get, Module } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { Transport } from '@nestjs/microservices';
import { NestExpressApplication } from '@nestjs/platform-express';
import { IsInt } from 'class-validator';
import request from 'supertest';

import { ServiceConfigModule } from '../config/service-config.module';
import { ServiceEnv } from '../config/service.env';
import { Setting, ToNumber } from '../config/setting.decorator';
import { bootstrapService } from './bootstrap-service';

class PingEnv extends ServiceEnv {
  @Setting('HTTP port')
  @ToNumber()
  @IsInt()
  PING_PORT = 0;

  @Setting('RPC port')
  @ToNumber()
  @IsInt()
  PING_RPC_PORT = 0;
}

@Controller('ping')
class PingController {
  @Get()
  ping() {
    return { pong: true };
  }
}

@Module({ controllers: [PingController] })
class PingModule {}

function appModule(env: Record<string, string>) {
  return {
    module: PingModule,
    imports: [ServiceConfigModule.forRoot(PingEnv, env)],
  };
}

describe('bootstrapService', () => {
  let written: jest.SpyInstance;
  let exited: jest.SpyInstance;

  beforeEach(() => {
    written = jest.spyOn(process.stderr, 'write').mockImplementation(() => true);
    exited = jest.spyOn(process, 'exit').mockImplementation(() => undefined as never);
  });

  afterEach(() => jest.restoreAllMocks());

  it('listens on the port its setting names, under /api/<name>', async () => {
    const app = await bootstrapService({ name: 'ping', module: appModule({}), port: 'PING_PORT' });
    await request(app.getHttpServer()).get('/api/ping/ping').expect(200, { pong: true });
    await app.close();
    expect(exited).not.toHaveBeenCalled();
  });

  it('exits 1 with one line when the configuration is invalid', async () => {
    await bootstrapService({
      name: 'ping',
      module: appModule({ PING_PORT: 'x' }),
      port: 'PING_PORT',
    });
    expect(written).toHaveBeenCalledTimes(1);
    expect(written.mock.calls[0][0]).toMatch(
      /^ping: cannot start: invalid configuration: PING_PORT must be an integer number\n$/,
    );
    expect(exited).toHaveBeenCalledWith(1);
  });

  /** A TCP microservice on `PING_RPC_PORT`, as catalog and auth connect theirs. */
  const withRpc = (rpcSettings?: { port: string; host?: string }, host = '127.0.0.1') => ({
    rpcSettings,
    configure: (app: NestExpressApplication) => {
      const port = app.get(ConfigService).getOrThrow<number>('PING_RPC_PORT');
      app.connectMicroservice({
        transport: Transport.TCP,
        options: { host, port },
        autoFlushLogs: false,
      });
    },
  });

  it.each([
    ['names its setting', { port: 'PING_RPC_PORT' }, '; set PING_RPC_PORT'],
    ['names none when the service declares none', undefined, ''],
  ])(
    'exits 1 with one line naming the port when the RPC port is taken: %s',
    async (_case, rpcSettings, setting) => {
      const taken: Server = createServer();
      await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
      const port = (taken.address() as { port: number }).port;
      try {
        const app = await bootstrapService({
          name: 'ping',
          module: appModule({ PING_RPC_PORT: String(port) }),
          port: 'PING_PORT',
          ...withRpc(rpcSettings),
        });
        await app?.close().catch(() => undefined);
        expect(written).toHaveBeenCalledTimes(1);
        expect(written.mock.calls[0][0]).toBe(
          `ping: cannot start: port ${port} is taken: another process listens on it (EADDRINUSE)${setting}\n`,
        );
        expect(exited).toHaveBeenCalledWith(1);
      } finally {
        await new Promise((resolve) => taken.close(resolve));
      }
    },
  );

  it('exits 1 with one line naming the host setting when the RPC address is not one of this host', async () => {
    const app = await bootstrapService({
      name: 'ping',
      module: appModule({}),
      port: 'PING_PORT',
      // TEST-NET-1 (RFC 5737): never an address of this host.
      ...withRpc({ port: 'PING_RPC_PORT', host: 'PING_RPC_HOST' }, '192.0.2.1'),
    });
    await app?.close().catch(() => undefined);
    expect(written.mock.calls).toEqual([
      [
        'ping: cannot start: 192.0.2.1 is not an address of this host (EADDRNOTAVAIL); set PING_RPC_HOST\n',
      ],
    ]);
    expect(exited).toHaveBeenCalledWith(1);
  });

  it('exits 1 with one line naming the port and its setting when the port is taken', async () => {
    const taken: Server = createServer();
    await new Promise<void>((resolve) => taken.listen(0, resolve));
    const port = (taken.address() as { port: number }).port;
    try {
      const app = await bootstrapService({
        name: 'ping',
        module: appModule({ PING_PORT: String(port) }),
        port: 'PING_PORT',
      });
      // `process.exit` is a spy here: the failed app is still to close.
      await app?.close().catch(() => undefined);
      expect(written).toHaveBeenCalledTimes(1);
      expect(written.mock.calls[0][0]).toBe(
        `ping: cannot start: port ${port} is taken: another process listens on it (EADDRINUSE); set PING_PORT\n`,
      );
      expect(exited).toHaveBeenCalledWith(1);
    } finally {
      await new Promise((resolve) => taken.close(resolve));
    }
  });
});
