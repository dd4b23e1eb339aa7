import { Controller, Get, Module } from '@nestjs/common';
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
});
