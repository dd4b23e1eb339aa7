import { join } from 'node:path';
import { NestExpressApplication } from '@nestjs/platform-express';
import { Test } from '@nestjs/testing';

import { configureServiceApp } from '@cloakroom/service-kit';

import { AppModule } from '../src/app/app.module';
import { gatewayService } from '../src/app/app.setup';

/** The gateway as `main.ts` sets it up, on a free loopback port, with `env` as its settings. */
export async function startGateway(env: Record<string, string>): Promise<NestExpressApplication> {
  const moduleRef = await Test.createTestingModule({ imports: [AppModule.forRoot(env)] }).compile();
  const app = moduleRef.createNestApplication<NestExpressApplication>({
    bodyParser: false,
    logger: false,
  });
  configureServiceApp(app, gatewayService(join(__dirname, '..', 'src', 'assets', 'web')));
  await app.listen(0, '127.0.0.1');
  return app;
}
