import { INestApplication, INestMicroservice, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { MicroserviceOptions, Transport } from '@nestjs/microservices';
import { NestExpressApplication } from '@nestjs/platform-express';
import { Test } from '@nestjs/testing';

import { configureServiceApp } from '@cloakroom/service-kit';
import {
  SessionCookieService,
  SessionModule,
  SessionRpcController,
  SessionService,
  SessionUser,
} from '@cloakroom/session';

import { AppModule } from '../src/app/app.module';

/** Starts the catalog app in-process with the given settings (they win over the environment). */
export async function startCatalogApp(env: Record<string, string>): Promise<INestApplication> {
  const moduleRef = await Test.createTestingModule({ imports: [AppModule.forRoot(env)] }).compile();
  const app = moduleRef.createNestApplication<NestExpressApplication>({ logger: false });
  await configureServiceApp(app, { name: 'catalog' }).init();
  return app;
}

/**
 * A stand-in for the auth service's session microservice: the library's RPC controller over
 * TCP, in front of a Redis store. It issues sessions the way the auth service's login does.
 */
export class StandInAuth {
  private rpc?: INestMicroservice;

  constructor(
    readonly port: number,
    private readonly redisUrl: string,
    private readonly keyPrefix: string,
  ) {}

  async start(): Promise<void> {
    @Module({
      imports: [
        SessionModule.forRoot({ redis: { url: this.redisUrl }, keyPrefix: this.keyPrefix }),
      ],
      controllers: [SessionRpcController],
    })
    class StandInAuthModule {}

    this.rpc = await NestFactory.createMicroservice<MicroserviceOptions>(StandInAuthModule, {
      transport: Transport.TCP,
      options: { host: '127.0.0.1', port: this.port },
      logger: false,
    });
    await this.rpc.listen();
  }

  async stop(): Promise<void> {
    await this.rpc?.close();
    this.rpc = undefined;
  }

  /** Logs a user in and returns the cookie a browser would send to the catalog. */
  async login(catalog: INestApplication, user: SessionUser): Promise<string> {
    if (!this.rpc) throw new Error('stand-in auth is not running');
    const { token } = await this.rpc.get(SessionService).create(user, { userAgent: 'e2e' });
    return `${catalog.get(SessionCookieService).name}=${token}`;
  }
}

export function randomSuffix(): string {
  return Math.random().toString(36).slice(2, 10);
}
