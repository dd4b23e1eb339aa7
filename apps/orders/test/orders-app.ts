import { mkdtempSync, rmSync } from 'node:fs';
import { IncomingHttpHeaders, OutgoingHttpHeaders, request as httpRequest } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { INestApplication } from '@nestjs/common';
import { NestExpressApplication } from '@nestjs/platform-express';
import { Test } from '@nestjs/testing';

import { configureServiceApp } from '@cloakroom/service-kit';
import { SessionCookieService, SessionService, SessionUser } from '@cloakroom/session';
import {
  AssertionKeyFiles,
  DevCertificates,
  makeAssertionKeys,
  makeDevCertificates,
} from '@cloakroom/session/testing';

import { AppModule } from '../src/app/app.module';
import { ordersService } from '../src/app/app.setup';

/** Orders' link to catalog in the in-process tests: a CA, certificates and assertion keys. */
export interface CatalogLink {
  certificates: DevCertificates;
  keys: AssertionKeyFiles;
  /** The settings that give orders its client certificate and its signing key. */
  env: Record<string, string>;
}

let link: CatalogLink | undefined;

/** This test process's `CatalogLink`, made once, removed when the process exits. */
export function catalogLink(): CatalogLink {
  if (!link) {
    const dir = mkdtempSync(join(tmpdir(), 'orders-link-'));
    process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
    const certificates = makeDevCertificates(dir, ['orders'], ['catalog']);
    const keys = makeAssertionKeys(dir, 'orders');
    const env = {
      CATALOG_RPC_CA: certificates.ca,
      CATALOG_RPC_CLIENT_CERT: certificates.clients['orders'].cert,
      CATALOG_RPC_CLIENT_KEY: certificates.clients['orders'].key,
      SESSION_ASSERTION_KEY: keys.privateKey,
    };
    link = { certificates, keys, env };
  }
  return link;
}

/**
 * Starts the orders app in-process with the given settings (they win over the environment and
 * over `catalogLink()`'s).
 */
export async function startOrdersApp(env: Record<string, string>): Promise<INestApplication> {
  const moduleRef = await Test.createTestingModule({
    imports: [AppModule.forRoot({ ...catalogLink().env, ...env })],
  }).compile();
  const app = moduleRef.createNestApplication<NestExpressApplication>({ logger: false });
  await configureServiceApp(app, ordersService).init();
  return app;
}

/** Logs a user in the way the auth service does, and returns the cookie a browser would send. */
export async function sessionCookie(app: INestApplication, user: SessionUser): Promise<string> {
  const { token } = await app.get(SessionService).create(user, { userAgent: 'e2e' });
  return `${app.get(SessionCookieService).name}=${token}`;
}

export function randomSuffix(): string {
  return Math.random().toString(36).slice(2, 10);
}

/** The origin the test apps allow for cookie writes (`SESSION_ALLOWED_ORIGINS`). */
export const ORIGIN = 'http://localhost:3000';

/** A raw HTTP answer: status, headers, and the JSON body (undefined when empty). */
export interface RawAnswer {
  status: number;
  headers: IncomingHttpHeaders;
  body: unknown;
}

/**
 * One request on a connection of its own (no agent: parallel requests really race), with the
 * cookie and the allowed `Origin` of a browser.
 *
 * @example
 * await sendRaw(base, 'POST', '/api/orders', cookie, { items }, { 'Idempotency-Key': key });
 */
export function sendRaw(
  base: { host: string; port: number },
  method: 'GET' | 'POST',
  path: string,
  cookie: string,
  body?: unknown,
  headers: OutgoingHttpHeaders = {},
): Promise<RawAnswer> {
  const payload = body === undefined ? undefined : JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const call = httpRequest(
      {
        ...base,
        method,
        path,
        agent: false,
        headers: {
          Cookie: cookie,
          Origin: ORIGIN,
          ...(payload !== undefined && {
            'Content-Type': 'application/json',
            'Content-Length': Buffer.byteLength(payload),
          }),
          ...headers,
        },
      },
      (response) => {
        let text = '';
        response.setEncoding('utf8');
        response.on('data', (chunk: string) => (text += chunk));
        response.on('end', () =>
          resolve({
            status: response.statusCode ?? 0,
            headers: response.headers,
            body: text ? JSON.parse(text) : undefined,
          }),
        );
      },
    );
    call.on('error', reject);
    call.end(payload);
  });
}
