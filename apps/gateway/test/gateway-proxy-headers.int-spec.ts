import { Server } from 'node:http';

import {
  exchange,
  gatewayBeforeRecorder,
  headFor,
  Heard,
  RecordedGateway,
} from './recording-service';

/**
 * Headers a client might send to pass for a proxy: its address, the URL or method the request
 * "really" had, the host it was for. Each name comes in a case of its own and twice, with a
 * value that gives itself away.
 */
const CLAIMS = [
  'X-Client-IP',
  'True-Client-IP',
  'CF-Connecting-IP',
  'Fastly-Client-IP',
  'X-Cluster-Client-IP',
  'Client-IP',
  'X-Real-IP',
  'X-ProxyUser-Ip',
  'X-Original-Forwarded-For',
  'X-Original-URL',
  'X-Original-URI',
  'X-Rewrite-URL',
  'X-Original-Host',
  'X-Host',
  'X-HTTP-Method-Override',
  'x-http-method',
  'X-METHOD-OVERRIDE',
  'Forwarded',
  'X-Forwarded',
  'X-Forwarded-Prefix',
  'X-Forwarded-Server',
  'X-Forwarded-Ssl',
  'X-Forwarded-Host',
  'X-Forwarded-Proto',
  'X-Forwarded-Port',
  'X-Forwarded-For',
];

/** The claims' header lines: each name twice, every value naming the attacker. */
const claimLines = CLAIMS.flatMap((name) => [`${name}: 6.6.6.6`, `${name}: /evil DELETE`]);

describe('gateway headers only a proxy sets', () => {
  const heard: Heard[] = [];
  let started: RecordedGateway | undefined;
  let gateway: Server;

  beforeAll(async () => {
    started = await gatewayBeforeRecorder(heard, {
      PUBLIC_URL: 'https://shop.example',
    });
    gateway = started.gateway;
  });

  afterAll(async () => {
    await started?.close();
  });

  beforeEach(() => (heard.length = 0));

  it.each([false, true])(
    'never reach the service: the gateway drops them or sets its own (upgrade: %s)',
    async (upgrade) => {
      const [line, ...headers] = headFor('/api/orders/ws', 'shop.example', upgrade);
      const answer = await exchange(gateway, [line, ...headers, ...claimLines]);
      expect(answer.status).toBe(upgrade ? 403 : 200);
      expect(heard).toHaveLength(1);
      const [{ headers: seen, url, upgrade: upgraded }] = heard;
      expect({ url, upgraded }).toEqual({ url: '/api/orders/ws', upgraded: upgrade });
      // What the service hears of the client and of the request is the gateway's alone.
      expect(
        Object.entries(seen).filter(([, value]) => /6\.6\.6\.6|evil/.test(String(value))),
      ).toEqual([]);
      const proxyOnly = Object.keys(seen).filter((name) =>
        CLAIMS.some((claim) => claim.toLowerCase() === name),
      );
      expect(proxyOnly.sort()).toEqual([
        'x-forwarded-for',
        'x-forwarded-host',
        'x-forwarded-port',
        'x-forwarded-proto',
      ]);
      expect(seen['x-forwarded-for']).toBe('127.0.0.1');
      expect(seen['x-forwarded-host']).toBe('shop.example');
      expect(seen['x-forwarded-proto']).toBe('https');
      expect(seen['x-forwarded-port']).toBe('443');
    },
  );

  it.each([false, true])(
    'drops every header whose name has an underscore, and passes the others on (upgrade: %s)',
    async (upgrade) => {
      const [line, ...headers] = headFor('/api/orders/ws', 'shop.example', upgrade);
      const underscored = [
        'X_Forwarded_For: 6.6.6.6',
        'x_forwarded_host: evil.example',
        'X-Forwarded_Proto: evil',
        'X_Real_IP: 6.6.6.6',
        'Cookie_: session=evil',
        'X_User_Id: admin',
        '_: evil',
        'Accept_Language: evil',
      ];
      const answer = await exchange(gateway, [
        line,
        ...headers,
        ...underscored,
        'X-Request-Id: kept-1',
        'Cookie: session=kept',
        'Accept-Language: fr',
      ]);
      expect(answer.status).toBe(upgrade ? 403 : 200);
      expect(heard).toHaveLength(1);
      const [{ headers: seen }] = heard;
      expect(Object.keys(seen).filter((name) => name.includes('_'))).toEqual([]);
      expect(
        Object.entries(seen).filter(([, value]) => /6\.6\.6\.6|evil|admin/.test(String(value))),
      ).toEqual([]);
      expect(seen).toMatchObject({
        'x-request-id': 'kept-1',
        cookie: 'session=kept',
        'accept-language': 'fr',
        'x-forwarded-for': '127.0.0.1',
      });
    },
  );
});
