import { Injectable } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { Test } from '@nestjs/testing';
import { IsString } from 'class-validator';

import { ServiceConfigModule } from './service-config.module';
import { ServiceEnv } from './service.env';
import { Setting } from './setting.decorator';

class GreeterEnv extends ServiceEnv {
  @Setting('Who is greeted')
  @IsString()
  GREETED = 'world';
}

@Injectable()
class Greeter {
  constructor(readonly env: GreeterEnv) {}
}

async function start(overrides: Record<string, string>) {
  const moduleRef = await Test.createTestingModule({
    imports: [ServiceConfigModule.forRoot(GreeterEnv, overrides)],
    providers: [Greeter],
  }).compile();
  return moduleRef;
}

describe('ServiceConfigModule', () => {
  it('serves the validated environment as its class and through ConfigService', async () => {
    const moduleRef = await start({ GREETED: 'tests' });
    expect(moduleRef.get(Greeter).env.GREETED).toBe('tests');
    expect(moduleRef.get(ConfigService).get('GREETED')).toBe('tests');
  });

  it('keeps apps of one process apart and never writes to process.env', async () => {
    const before = { ...process.env };
    const [first, second] = await Promise.all([start({ GREETED: 'a' }), start({})]);
    expect(first.get(GreeterEnv).GREETED).toBe('a');
    expect(second.get(GreeterEnv).GREETED).toBe(process.env['GREETED'] ?? 'world');
    expect(process.env).toEqual(before);
  });
});
