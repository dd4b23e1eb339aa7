import { createServer, Server } from 'node:http';
import { AddressInfo } from 'node:net';

import { waitForStatus } from './wait-for-status';

describe('waitForStatus', () => {
  let server: Server;
  let url: string;
  let status: number;

  beforeAll(async () => {
    server = createServer((_request, response) =>
      response.writeHead(status).end(status === 503 ? '{"details":{"sessions":"down"}}' : ''),
    );
    await new Promise<void>((listening) => server.listen(0, '127.0.0.1', listening));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/health`;
  });

  afterAll(() => new Promise((closed) => server.close(closed)));

  it('resolves once the URL answers the expected status', async () => {
    status = 503;
    setTimeout(() => (status = 200), 300);
    await expect(waitForStatus(url)).resolves.toBeUndefined();
  });

  it('gives up after the timeout, naming the last answer and what it said', async () => {
    status = 503;
    await expect(waitForStatus(url, 200, 500)).rejects.toThrow(
      /did not answer 200.*HTTP 503 \{"details":\{"sessions":"down"\}\}/,
    );
  });
});
