import { Test } from '@nestjs/testing';

import { StartupError } from '@cloakroom/service-kit';

import { AppModule } from '../src/app/app.module';
import { AuthConfigModule } from '../src/app/config/config.module';
import { DatabaseModule } from '../src/app/database/database.module';

describe('auth start-up', () => {
  it('fails with one clear StartupError when Redis is unreachable', async () => {
    const moduleRef = await Test.createTestingModule({
      imports: [
        AppModule.forRoot({
          NODE_ENV: 'test',
          REDIS_URL: 'redis://127.0.0.1:6399',
          AUTH_DATABASE_URL: ':memory:',
          AUTH_RPC_PORT: '0',
        }),
      ],
    }).compile();
    const app = moduleRef.createNestApplication({ logger: false });
    const failure = await app.init().then(
      () => null,
      (error: unknown) => error,
    );
    await app.close();
    expect(failure).toBeInstanceOf(StartupError);
    expect((failure as Error).message).toContain('cannot reach Redis at redis://127.0.0.1:6399');
  });

  it('fails with one clear StartupError when PostgreSQL is unreachable', async () => {
    const failure = await Test.createTestingModule({
      imports: [
        AuthConfigModule.forRoot({
          AUTH_DATABASE_URL: 'postgres://postgres:secret@127.0.0.1:5499/test',
        }),
        DatabaseModule,
      ],
    })
      .compile()
      .then(
        () => null,
        (error: unknown) => error,
      );
    expect(failure).toBeInstanceOf(StartupError);
    expect((failure as Error).message).toContain('cannot reach PostgreSQL at');
    expect((failure as Error).message).not.toContain('secret');
  });

  it('refuses an invalid configuration with every problem named', async () => {
    const failure = await Promise.resolve()
      .then(() =>
        Test.createTestingModule({
          imports: [AppModule.forRoot({ AUTH_PORT: 'abc', SESSION_IDLE_TIMEOUT: '-5' })],
        }).compile(),
      )
      .then(
        () => null,
        (error: unknown) => error,
      );
    expect(failure).toBeInstanceOf(StartupError);
    expect((failure as Error).message).toContain('AUTH_PORT');
    expect((failure as Error).message).toContain('SESSION_IDLE_TIMEOUT');
  });
});
