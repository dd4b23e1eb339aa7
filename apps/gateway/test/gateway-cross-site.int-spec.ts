import { createServer, request as httpRequest } from 'node:http';
import { AddressInfo } from 'node:net';
import { NestExpressApplication } from '@nestjs/platform-express';

import { startGateway } from './start-gateway';

/** A status and body, and whether the service heard of the request. */
async function send(
  port: number,
  method: string,
  headers: Record<string, string>,
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ port, host: '127.0.0.1', method, path: '/api/orders/x', headers });
    req.on('response', (response) => {
      let body = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => (body += chunk));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end(method === 'GET' || method === 'HEAD' ? undefined : '{"items":[]}');
  });
}

/**
 * Requests a page of another site makes a browser send: the unsafe ones (form posts, beacons,
 * no-cors fetches: the shapes of CSRF, since nothing here allows cross-origin requests) are
 * refused at the edge, whatever route they aim at; reads, and clients that are no browser,
 * pass on to the services, which apply their own rules.
 */
describe('gateway, against unsafe requests from another site', () => {
  const heard: string[] = [];
  const service = createServer((req, res) => {
    heard.push(`${req.method} ${req.headers['sec-fetch-site'] ?? '-'}`);
    req.resume().on('end', () => res.end('{}'));
  });
  let app: NestExpressApplication;
  let port: number;

  beforeAll(async () => {
    await new Promise<void>((done) => service.listen(0, '127.0.0.1', done));
    app = await startGateway({
      AUTH_URL: 'http://127.0.0.1:9',
      ORDERS_URL: `http://127.0.0.1:${(service.address() as AddressInfo).port}`,
      CATALOG_URL: 'http://127.0.0.1:9',
    });
    port = (app.getHttpServer().address() as AddressInfo).port;
  });

  afterAll(async () => {
    await app.close();
    service.close();
  });

  beforeEach(() => heard.splice(0));

  it.each(['POST', 'PUT', 'PATCH', 'DELETE'])(
    'refuses a cross-site %s with a JSON 403 and forwards nothing',
    async (method) => {
      const answer = await send(port, method, {
        'sec-fetch-site': 'cross-site',
        origin: 'https://evil.example',
        'content-type': 'text/plain',
      });
      expect(answer).toEqual({
        status: 403,
        body: JSON.stringify({ statusCode: 403, message: 'Cross-site request refused' }),
      });
      expect(heard).toEqual([]);
    },
  );

  it('forwards cross-site reads, and writes from the same site or from no browser', async () => {
    const forwarded = [
      await send(port, 'GET', { 'sec-fetch-site': 'cross-site' }),
      await send(port, 'POST', { 'sec-fetch-site': 'same-origin' }),
      await send(port, 'POST', { 'sec-fetch-site': 'same-site' }),
      await send(port, 'POST', { 'sec-fetch-site': 'none' }),
      await send(port, 'POST', {}),
    ];
    expect(forwarded.map(({ status }) => status)).toEqual([200, 200, 200, 200, 200]);
    expect(heard).toEqual([
      'GET cross-site',
      'POST same-origin',
      'POST same-site',
      'POST none',
      'POST -',
    ]);
  });
});
