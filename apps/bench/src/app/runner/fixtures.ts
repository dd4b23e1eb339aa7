import { createHmac, generateKeyPairSync, KeyObject, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { INestApplicationContext } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { RedisStore } from 'connect-redis';
import { SignJWT } from 'jose';
import { createClient } from 'redis';

import { SessionModule, SessionService } from '@cloakroom/session';
import { makeDevCertificates } from '@cloakroom/session/testing';

import { sessionOptions } from '../bench/bench.module';
import { BenchKeys, EXPRESS_SESSION_KEY_PREFIX, REQUIRED_ROLE, Scenario } from '../scenarios';
import { storeExpressSession } from './connect-redis-session';

/** What a browser sends today; 111 bytes, longer than Redis's default listpack value limit. */
export const REALISTIC_USER_AGENT =
  'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36';
/** The label an app computes from that user agent, as the auth service does. */
export const REALISTIC_DEVICE = 'Chrome 131 on Windows';
export const CLIENT_IP = '203.0.113.42';

type Headers = Record<string, string>;

/** The credentials the load generator sends: one user per connection, per scenario. */
export interface Fixtures {
  keys: BenchKeys;
  headers: Record<Scenario, Headers[]>;
  /** Well-formed-looking but malformed: refused before any Redis call. */
  malformed: Headers[];
  /** The library as the auth service uses it, on the servers' key prefix. */
  sessions: SessionService;
  close(): Promise<void>;
}

export async function makeFixtures(redisUrl: string, users: number): Promise<Fixtures> {
  const hsSecret = randomBytes(32).toString('base64url');
  const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const ed = generateKeyPairSync('ed25519');
  const keys: BenchKeys = {
    hsSecret,
    rsaPublicKey: pem(rsa.publicKey),
    edPublicKey: pem(ed.publicKey),
    expressSessionSecret: randomBytes(32).toString('base64url'),
    rpcTls: rpcCertificates(),
  };

  const context: INestApplicationContext = await NestFactory.createApplicationContext(
    SessionModule.forRoot(sessionOptions(redisUrl)),
    { logger: ['error'] },
  );
  const sessions = context.get(SessionService);
  const redis = createClient({ url: redisUrl });
  await redis.connect();
  const expressSessions = new RedisStore({ client: redis, prefix: EXPRESS_SESSION_KEY_PREFIX });

  const sessionTokens: Headers[] = [];
  const hs: Headers[] = [];
  const rs: Headers[] = [];
  const eddsa: Headers[] = [];
  const cookies: Headers[] = [];
  for (let i = 0; i < users; i++) {
    const user = { id: `bench-user-${i}`, username: `bench${i}`, roles: [REQUIRED_ROLE] };
    const { token, session } = await sessions.create(user, {
      ip: CLIENT_IP,
      userAgent: REALISTIC_USER_AGENT,
      device: REALISTIC_DEVICE,
    });
    sessionTokens.push(bearer(token));
    const claims = { name: user.username, roles: user.roles };
    hs.push(bearer(await sign(claims, user.id, 'HS256', new TextEncoder().encode(hsSecret))));
    rs.push(bearer(await sign(claims, user.id, 'RS256', rsa.privateKey)));
    eddsa.push(bearer(await sign(claims, user.id, 'EdDSA', ed.privateKey)));
    const sid = await storeExpressSession(expressSessions, {
      ...session,
      ip: CLIENT_IP,
      device: REALISTIC_DEVICE,
    });
    cookies.push({ cookie: signedCookie(sid, keys.expressSessionSecret) });
  }

  return {
    keys,
    headers: {
      // `none` gets the same header as `session`, so request size is not what differs.
      none: sessionTokens,
      'allow-all': sessionTokens,
      'hash-floor': sessionTokens,
      'redis-floor': sessionTokens,
      'redis-floor-coalesced': sessionTokens,
      'redis-floor-node-redis': sessionTokens,
      'redis-floor-socket': sessionTokens,
      session: sessionTokens,
      'session-remote': sessionTokens,
      'session-remote-unbatched': sessionTokens,
      'session-cache': sessionTokens,
      'session-metrics': sessionTokens,
      'session-autopipelining': sessionTokens,
      'session-uncoalesced': sessionTokens,
      'jwt-nestjs': hs,
      'jwt-hs256': hs,
      'jwt-rs256': rs,
      'jwt-eddsa': eddsa,
      'express-session': cookies,
    },
    malformed: [bearer('cr1.not-a-token')],
    sessions,
    close: async () => {
      await redis.quit();
      await context.close();
    },
  };
}

function bearer(token: string): Headers {
  return { authorization: `Bearer ${token}` };
}

function pem(key: KeyObject): string {
  return key.export({ type: 'spki', format: 'pem' }).toString();
}

function sign(
  claims: Record<string, unknown>,
  subject: string,
  alg: 'HS256' | 'RS256' | 'EdDSA',
  key: Uint8Array | KeyObject,
): Promise<string> {
  return new SignJWT(claims)
    .setProtectedHeader({ alg })
    .setSubject(subject)
    .setIssuedAt()
    .setExpirationTime('2h')
    .sign(key);
}

/** express-session's cookie value: "s:" + sid + "." + base64(HMAC-SHA256(sid)) without padding. */
function signedCookie(sid: string, secret: string): string {
  const signature = createHmac('sha256', secret).update(sid).digest('base64').replace(/=+$/, '');
  return `connect.sid=${encodeURIComponent(`s:${sid}.${signature}`)}`;
}

/** A throwaway CA, the RPC server's certificate and the `bench` client's, as PEM contents. */
function rpcCertificates(): BenchKeys['rpcTls'] {
  const dir = mkdtempSync(join(tmpdir(), 'bench-certs-'));
  try {
    const certificates = makeDevCertificates(dir, ['bench']);
    return { server: certificates.serverTls(), client: certificates.remoteTls('bench') };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
