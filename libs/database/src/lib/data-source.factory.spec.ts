import { AddressInfo, createServer } from 'node:net';
import { DataSourceOptions } from 'typeorm';

import { StartupError } from '@cloakroom/service-kit';

import { openDataSource } from './data-source.factory';
import { databaseOptions } from './database.options';

const schema = { entities: [], migrations: [] };

async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((listening) => server.listen(0, '127.0.0.1', listening));
  const { port } = server.address() as AddressInfo;
  await new Promise((closed) => server.close(closed));
  return port;
}

describe('openDataSource', () => {
  it('opens a SQLite database', async () => {
    const dataSource = await openDataSource(
      databaseOptions(':memory:', schema) as DataSourceOptions,
    );
    expect(dataSource.isInitialized).toBe(true);
    await dataSource.destroy();
  });

  it('fails with one line naming PostgreSQL without its password, and the hint', async () => {
    const url = `postgres://postgres:hunter2@127.0.0.1:${await closedPort()}/things`;
    const failure = await openDataSource(
      databaseOptions(url, schema) as DataSourceOptions,
      'check X',
    ).catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(StartupError);
    const message = (failure as Error).message;
    expect(message).toMatch(/^cannot reach PostgreSQL at postgres:\/\/postgres@127\.0\.0\.1:\d+/);
    expect(message).toMatch(/ \(check X\)$/);
    expect(message).not.toContain('hunter2');
    expect(message).not.toContain('\n');
  });

  it('names the SQLite file it could not open', async () => {
    const failure = await openDataSource(
      databaseOptions('/dev/null/things.sqlite', schema) as DataSourceOptions,
    ).catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(StartupError);
    expect((failure as Error).message).toContain(
      'cannot open the SQLite database /dev/null/things.sqlite',
    );
  });
});
