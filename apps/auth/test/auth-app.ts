import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { NestExpressApplication } from '@nestjs/platform-express';
import { Test } from '@nestjs/testing';
import { Redis } from 'ioredis';
import request from 'supertest';
import type { App } from 'supertest/types';
import { DataSource } from 'typeorm';

import { configureServiceApp } from '@cloakroom/service-kit';
import {
  DevCertificates,
  freePort,
  makeDevCertificates,
  testKeyPrefix,
} from '@cloakroom/session/testing';

import { AppModule } from '../src/app/app.module';
import { authService } from '../src/app/app.setup';

export const REDIS_URL = 'redis://127.0.0.1:6379';
const POSTGRES_SERVER = 'postgres://postgres@127.0.0.1:5432';
export const POSTGRES_URL = `${POSTGRES_SERVER}/test`;
export const ORIGIN = 'http://localhost:3000';

/** A desktop browser's user agent, as the sessions list turns it into a device label. */
export const CHROME_ON_WINDOWS =
  'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.6778.86 Safari/537.36';

export interface AuthApp {
  app: NestExpressApplication;
  http: App;
  rpcPort: number;
  keyPrefix: string;
  /** Its PostgreSQL schema's URL: another instance given it as `AUTH_DATABASE_URL` shares it. */
  databaseUrl: string;
  /** The suite's own CA, auth's RPC certificate, and client certificates `catalog`, `orders`. */
  certificates: DevCertificates;
  close(): Promise<void>;
}

/** Deletes every Redis key under a prefix, so reruns start from nothing. */
export async function clearRedis(url: string, prefix: string): Promise<void> {
  const redis = new Redis(url);
  try {
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
      if (keys.length) await redis.del(...keys);
      cursor = next;
    } while (cursor !== '0');
  } finally {
    redis.disconnect();
  }
}

/**
 * A fresh PostgreSQL schema per suite, in a database of its own (`test_<schema>`, created the
 * first time): the migrations run into it from scratch. Not in the shared `test` database: the
 * admin lock is an advisory lock, one per database, and Jest may run two files at once; a suite
 * that holds it for seconds (a holder whose connection went quiet) would make another suite's
 * administrator writes wait out `lock_timeout` and answer 503.
 */
export async function freshSchema(schema: string): Promise<string> {
  const database = `test_${schema}`;
  const server = await new DataSource({ type: 'postgres', url: POSTGRES_URL }).initialize();
  try {
    const [found] = await server.query('SELECT 1 FROM pg_database WHERE datname = $1', [database]);
    // Another run beside this one may create it between the look and here: 42P04, already there.
    if (!found) {
      await server.query(`CREATE DATABASE "${database}"`).catch((error: { code?: string }) => {
        if (error.code !== '42P04') throw error;
      });
    }
  } finally {
    await server.destroy();
  }
  const url = `${POSTGRES_SERVER}/${database}`;
  const postgres = await new DataSource({ type: 'postgres', url }).initialize();
  try {
    await postgres.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    await postgres.query(`CREATE SCHEMA "${schema}"`);
  } finally {
    await postgres.destroy();
  }
  return `${url}?options=${encodeURIComponent(`-c search_path=${schema}`)}`;
}

/**
 * Boots the real AppModule (HTTP and the TCP session RPC) against real Redis and
 * PostgreSQL, isolated from other suites by its own key prefix and schema.
 */
export async function startAuthApp(
  suite: string,
  env: Record<string, string> = {},
): Promise<AuthApp> {
  const redisUrl = env['REDIS_URL'] ?? REDIS_URL;
  // Given both, it joins another instance's data as it stands; otherwise it starts from nothing.
  const keyPrefix = env['SESSION_KEY_PREFIX'] ?? testKeyPrefix(`auth-${suite}`);
  if (!env['SESSION_KEY_PREFIX']) await clearRedis(redisUrl, keyPrefix);
  const databaseUrl =
    env['AUTH_DATABASE_URL'] ?? (await freshSchema(`auth_${suite.replace(/\W/g, '_')}`));
  const rpcPort = await freePort();
  const certificatesDir = mkdtempSync(join(tmpdir(), `auth-${suite}-certs-`));
  const certificates = makeDevCertificates(certificatesDir, ['catalog', 'orders']);
  const moduleRef = await Test.createTestingModule({
    imports: [
      AppModule.forRoot({
        NODE_ENV: 'test',
        SEED_DEMO_USERS: 'true',
        REDIS_URL: redisUrl,
        AUTH_DATABASE_URL: databaseUrl,
        AUTH_RPC_PORT: String(rpcPort),
        AUTH_RPC_CLIENT_CA: certificates.ca,
        AUTH_RPC_SERVER_CERT: certificates.server.cert,
        AUTH_RPC_SERVER_KEY: certificates.server.key,
        SESSION_KEY_PREFIX: keyPrefix,
        SESSION_ALLOWED_ORIGINS: ORIGIN,
        SESSION_MAX_PER_USER: '10',
        SESSION_COOKIE_SECURE: 'false',
        TRUST_PROXY: 'loopback',
        LOGIN_MAX_FAILURES_PER_USER: '5',
        LOGIN_MAX_FAILURES_PER_IP: '1000',
        ...env,
      }),
    ],
  }).compile();
  const app = moduleRef.createNestApplication<NestExpressApplication>({ logger: ['error'] });
  configureServiceApp(app, authService);
  await app.init();
  await app.startAllMicroservices();
  return {
    app,
    http: app.getHttpServer(),
    rpcPort,
    keyPrefix,
    databaseUrl,
    certificates,
    close: async () => {
      await app.close();
      rmSync(certificatesDir, { recursive: true, force: true });
    },
  };
}

/** The `name=value` part of the session cookie a response sets. */
export function sessionCookie(response: request.Response): string {
  const header = ([] as string[]).concat(response.headers['set-cookie'] ?? []);
  const cookie = header.find((value) => value.startsWith('cr_session='));
  if (!cookie) throw new Error('no session cookie in the response');
  return cookie.split(';')[0];
}

/** Logs in through the HTTP API in cookie mode; answers the cookie and the response body. */
export async function loginWithCookie(http: App, username: string, password: string) {
  const response = await request(http)
    .post('/api/auth/login')
    .set('Origin', ORIGIN)
    .send({ username, password })
    .expect(200);
  return { cookie: sessionCookie(response), body: response.body };
}

/** Logs in through the HTTP API in bearer mode; answers the token and the response body. */
export async function loginWithBearer(http: App, username: string, password: string) {
  const response = await request(http)
    .post('/api/auth/login')
    .send({ username, password, transport: 'bearer' })
    .expect(200);
  return { token: response.body.token as string, body: response.body };
}

let userCount = 0;

/** A password the policy accepts: 16 random characters. */
export function strongPassword(): string {
  return `Pw-${randomBytes(12).toString('base64url')}`;
}

/** Creates a user of its own for a test through the admin API, so tests never share one. */
export async function createUser(
  http: App,
  adminCookie: string,
  roles: string[] = ['customer'],
): Promise<{ id: string; username: string; password: string }> {
  const username = `user-${process.pid}-${Date.now().toString(36)}-${userCount++}`;
  // Random: the password policy refuses anything derived from the username.
  const password = strongPassword();
  const response = await request(http)
    .post('/api/auth/users')
    .set('Cookie', adminCookie)
    .set('Origin', ORIGIN)
    .send({ username, password, roles });
  // With the body: a 503 says there which dependency it was (the status alone says nothing).
  expect({ status: response.status, body: response.body }).toEqual({
    status: 201,
    body: expect.objectContaining({ id: expect.any(String) }),
  });
  return { id: response.body.id, username, password };
}

/**
 * Sends an option to an action that takes no body, once in each form a client may send it: as
 * JSON, as `text/plain` (what `fetch` sends for a string body, which no parser reads) and in a
 * JSON array; expects a JSON 400 every time.
 *
 * @example
 * await expectBodiesRefused({ except: [id] }, (type, body) =>
 *   request(http).delete('/api/auth/sessions').set('Authorization', `Bearer ${token}`).set('Content-Type', type).send(body),
 * );
 */
export async function expectBodiesRefused(
  option: object,
  send: (type: string, body: string) => request.Test,
): Promise<void> {
  const json = JSON.stringify(option);
  for (const [type, body] of [
    ['application/json', json],
    ['text/plain;charset=UTF-8', json],
    ['application/json', `[${json}]`],
  ]) {
    const refused = await send(type, body);
    expect({ type, body, status: refused.status }).toEqual({ type, body, status: 400 });
    expect(refused.body).toEqual({ statusCode: 400, message: expect.any(String) });
  }
}

/** Expects every bearer token to name a live session still. */
export async function expectAlive(http: App, tokens: string[]): Promise<void> {
  for (const token of tokens) {
    await request(http)
      .get('/api/auth/session')
      .set('Authorization', `Bearer ${token}`)
      .expect(200);
  }
}

/** A deferred signal: `done` resolves once `fire` is called, for holding a step of a race. */
export function signal(): { done: Promise<void>; fire: () => void } {
  let fire = () => undefined as void;
  const done = new Promise<void>((resolve) => (fire = resolve));
  return { done, fire };
}
