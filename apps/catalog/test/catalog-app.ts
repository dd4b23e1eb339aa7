import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { INestApplication, INestMicroservice, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { NestExpressApplication } from '@nestjs/platform-express';
import { Test } from '@nestjs/testing';
import request from 'supertest';

import { configureServiceApp } from '@cloakroom/service-kit';
import {
  InMemorySessionStore,
  IssuedSession,
  SessionAssertions,
  SessionCookieService,
  SessionModule,
  SessionService,
  SessionUser,
} from '@cloakroom/session';
import { SessionRpcModule, sessionRpcTransport } from '@cloakroom/session/rpc';
import {
  AssertionKeyFiles,
  DevCertificates,
  freePort,
  makeAssertionKeys,
  makeDevCertificates,
} from '@cloakroom/session/testing';

import { AppModule } from '../src/app/app.module';
import { catalogService } from '../src/app/app.setup';

/**
 * Starts the catalog app in-process with the given settings (they win over the environment),
 * its RPC for other services included (`CATALOG_RPC_PORT`, which `StandInAuth.clientEnv`
 * sets to a free port with its certificates).
 */
export async function startCatalogApp(env: Record<string, string>): Promise<INestApplication> {
  const moduleRef = await Test.createTestingModule({ imports: [AppModule.forRoot(env)] }).compile();
  const app = moduleRef.createNestApplication<NestExpressApplication>({ logger: false });
  await configureServiceApp(app, catalogService).init();
  await app.startAllMicroservices();
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
  /** Catalog's client certificate for auth, orders' for catalog's RPC, catalog's server one. */
  readonly certificates: DevCertificates = makeDevCertificates(
    this.certificatesDir,
    ['catalog', 'orders'],
    ['catalog'],
  );
  /** Orders' session assertion keys, which catalog trusts. */
  readonly ordersKeys: AssertionKeyFiles = makeAssertionKeys(this.certificatesDir, 'orders');

  constructor(
    readonly port: number,
    private readonly redisUrl: string,
    private readonly keyPrefix: string,
    /** Where catalog's own RPC listens. */
    readonly catalogRpcPort: number,
  ) {}

  /**
   * The settings that point catalog at this stand-in with its client certificate, its RPC's
   * certificates, and orders' assertion key to trust.
   */
  get clientEnv(): Record<string, string> {
    const { ca, clients, servers } = this.certificates;
    return {
      AUTH_RPC_HOST: '127.0.0.1',
      AUTH_RPC_PORT: String(this.port),
      AUTH_RPC_CA: ca,
      AUTH_RPC_CLIENT_CERT: clients['catalog'].cert,
      AUTH_RPC_CLIENT_KEY: clients['catalog'].key,
      CATALOG_RPC_PORT: String(this.catalogRpcPort),
      CATALOG_RPC_CLIENT_CA: ca,
      CATALOG_RPC_SERVER_CERT: servers['catalog'].cert,
      CATALOG_RPC_SERVER_KEY: servers['catalog'].key,
      SESSION_ASSERTION_TRUST: `orders:orders-1:${this.ordersKeys.publicKey}`,
    };
  }

  /** A stand-in on free ports (its RPC and catalog's), started. */
  static async started(redisUrl: string, keyPrefix: string): Promise<StandInAuth> {
    const auth = new StandInAuth(await freePort(), redisUrl, keyPrefix, await freePort());
    await auth.start();
    return auth;
  }

  async start(): Promise<void> {
    @Module({
      imports: [
        SessionModule.forRoot({ redis: { url: this.redisUrl }, keyPrefix: this.keyPrefix }),
        SessionRpcModule.register({
          capabilities: {
            catalog: {
              calls: ['validate', 'get'],
              fields: ['id', 'userId', 'username', 'roles'],
            },
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

  /** A session for `user`, issued the way auth's login does. */
  issue(user: SessionUser): Promise<IssuedSession> {
    if (!this.rpc) throw new Error('stand-in auth is not running');
    return this.rpc.get(SessionService).create(user, { userAgent: 'e2e' });
  }

  /** Revokes a session, as a logout does. */
  async revoke(token: string): Promise<void> {
    await this.rpc?.get(SessionService).revoke(token);
  }

  /** Signs session assertions for catalog as orders does, with the key catalog trusts. */
  async ordersAssertions(): Promise<SessionAssertions> {
    const moduleRef = await Test.createTestingModule({
      imports: [
        SessionModule.forRoot({
          store: new InMemorySessionStore(),
          assertions: {
            service: 'orders',
            signingKey: { kid: 'orders-1', privateKey: readFileSync(this.ordersKeys.privateKey) },
          },
        }),
      ],
    }).compile();
    return moduleRef.get(SessionAssertions);
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

/** The `rel="next"` target of a `Link` header, if any. */
export function nextPage(link: string | undefined): string | undefined {
  return link && /^<([^>]+)>; rel="next"$/.exec(link)?.[1];
}

/**
 * Every product, page after page as a client follows the `Link` headers: a product created by a
 * test may lie past the first page of a shared database.
 */
export async function listAllProducts(
  http: ReturnType<typeof request>,
  first = '/api/catalog/products?limit=200',
): Promise<Array<{ sku: string; name: string; priceCents: number }>> {
  const all = [];
  for (let path: string | undefined = first; path; ) {
    const response = await http.get(path).expect(200);
    all.push(...(response.body as Array<{ sku: string; name: string; priceCents: number }>));
    path = nextPage(response.headers['link']);
  }
  return all;
}
