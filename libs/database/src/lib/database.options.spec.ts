import { resolve } from 'node:path';

import { databaseOptions } from './database.options';

const schema = { entities: [], migrations: [], migrationsTableName: 'things_migrations' };

describe('databaseOptions', () => {
  it('uses PostgreSQL for a postgres:// or postgresql:// URL', () => {
    for (const url of ['postgres://db/things', 'postgresql://db/things']) {
      expect(databaseOptions(url, schema)).toMatchObject({
        type: 'postgres',
        url,
        migrationsTableName: 'things_migrations',
        migrationsRun: true,
        retryAttempts: 0,
      });
    }
  });

  it('takes anything else for a SQLite file, resolved against the working directory', () => {
    expect(databaseOptions('.data/things.sqlite', schema)).toMatchObject({
      type: 'better-sqlite3',
      database: resolve('.data/things.sqlite'),
    });
    expect(databaseOptions('sqlite:/tmp/a.db', schema)).toMatchObject({ database: '/tmp/a.db' });
    expect(databaseOptions('sqlite:///tmp/a.db', schema)).toMatchObject({ database: '/tmp/a.db' });
    expect(databaseOptions(':memory:', schema)).toMatchObject({ database: ':memory:' });
  });

  it('passes the driver in, so that the build lists it as a dependency', () => {
    expect(databaseOptions('postgres://db/things', schema)).toHaveProperty('driver');
    expect(databaseOptions(':memory:', schema)).toHaveProperty('driver');
  });
});
