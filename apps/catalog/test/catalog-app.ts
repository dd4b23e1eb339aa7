import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { INestApplication, INestMicroservice, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { NestExpressApplication } from '@nestjs/platform-express';
import { Test } from '@nestjs/testing';

import { configureServiceApp } from '@cloakroom/service-kit';
import {
  SessionCookieService,
  SessionModule,
  SessionRpcModule,
  sessionRpcTransport,
  SessionService,
  SessionUser,
} from '@cloakroom/session';
import { DevCertificates, makeDevCertificates } from '@cloakroom/session/testing';

import { AppModule } from '../src/app/app.module';

/** Starts the catalog app in-process with the given settings (they win over the environment). */
export async function startCatalogApp(env: Record<string, string>): Promise<INestApplication> {
  const moduleRef = await Test.createTestingModule({ imports: [AppModule.forRoot(env)] }).compile();
  const app = moduleRef.createNestApplication<NestExpressApplication>({ logger: false });
  await configureServiceApp(app, { name: 'catalog' }).init();
  return app;
}

/**
 * A stand-in for the auth service's session RPC: the library's RPC module over mutual TLS, in
 * front of a Redis store, with catalog's capability as auth grants it. It issues sessions the
 * way the auth service's login does.
 */
export class StandInAuth {
  private rpc?: INestMicroservice;
  private readonly certificatesDir = mkdtempSync(join(tmpdir(), 'catalog-certs-'));
  private readonly certificates: DevCertificates = makeDevCertificates(this.certificatesDir, [
    'catalog',
  ]);

  constructor(
    readonly port: number,
    private readonly redisUrl: string,
    private readonly keyPrefix: string,
  ) {}

  /** The settings that give catalog its client certificate for this stand-in. */
  get clientEnv(): Record<string, string> {
    const { ca, clients } = this.certificates;
    return {
      AUTH_RPC_CA: ca,
      AUTH_RPC_CLIENT_CERT: clients['catalog'].cert,
      AUTH_RPC_CLIENT_KEY: clients['catalog'].key,
    };
  }

  async start(): Promise<void> {
    @Module({
      imports: [
        SessionModule.forRoot({ redis: { url: this.redisUrl }, keyPrefix: this.keyPrefix }),
        SessionRpcModule.register({
          capabilities: {
            catalog: { calls: ['validate'], fields: ['id', 'userId', 'username', 'roles'] },
          },
        }),
      ],
    })
    class StandInAuthModule {}

    const transport = { host: '127.0.0.1', port: this.port, tls: this.certificates.serverTls() };
    this.rpc = await NestFactory.createMicroservice(StandInAuthModule, {
      ...sessionRpcTransport(transport),
      logger: false,
    });
    await this.rpc.listen();
  }

  async stop(): Promise<void> {
    await this.rpc?.close();
    this.rpc = undefined;
  }

  /** Stops it for good and removes its certificates. */
  async dispose(): Promise<void> {
    await this.stop();
    rmSync(this.certificatesDir, { recursive: true, force: true });
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
