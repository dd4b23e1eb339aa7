import { execFileSync } from 'node:child_process';
import { join } from 'node:path';

import { WORKSPACE_ROOT } from './support/stack';

const SCRIPT = join(WORKSPACE_ROOT, 'docker', 'postgres', 'service-databases.sh');
const SUPERUSER = { host: '127.0.0.1', port: 5432, user: 'postgres', database: 'postgres' };

// Roles are the cluster's, not a database's: names of this run's own, dropped at the end.
const run = `cr_t${process.pid}`;
const services = ['auth', 'orders', 'catalog'].map((service) => `${run}_${service}`);
const passwordVariable = (service: string) => `${service.toUpperCase()}_DATABASE_PASSWORD`;

function createDatabases(env: Record<string, string>): string {
  return execFileSync('sh', [SCRIPT], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
    env: {
      PATH: process.env['PATH'] ?? '',
      PGHOST: SUPERUSER.host,
      PGPORT: String(SUPERUSER.port),
      POSTGRES_USER: SUPERUSER.user,
      POSTGRES_DB: SUPERUSER.database,
      SERVICE_DATABASES: services.join(' '),
      ...env,
    },
  });
}

/** Runs `sql` with psql as `user` on `database`, and answers its unaligned output. */
function query(connection: { user: string; database: string }, sql: string): string {
  return execFileSync(
    'psql',
    [
      '-X',
      '-v',
      'ON_ERROR_STOP=1',
      '-tA',
      '-h',
      SUPERUSER.host,
      '-p',
      String(SUPERUSER.port),
    ].concat(['-U', connection.user, '-d', connection.database, '-c', sql]),
    {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { PATH: process.env['PATH'] ?? '' },
    },
  ).trim();
}

/** What psql said when it failed. */
function refusal(run: () => unknown): string {
  try {
    run();
  } catch (error) {
    return String((error as { stderr?: string }).stderr);
  }
  return 'no refusal';
}

function dropAll(): void {
  for (const service of services) {
    query(SUPERUSER, `DROP DATABASE IF EXISTS "${service}" WITH (FORCE)`);
    query(SUPERUSER, `DROP ROLE IF EXISTS "${service}"`);
  }
}

describe('docker/postgres/service-databases.sh (PostgreSQL)', () => {
  beforeAll(dropAll);
  afterAll(dropAll);

  it('refuses to run without every service password, saying which', () => {
    const env = Object.fromEntries(services.slice(0, 2).map((s) => [passwordVariable(s), 'x']));
    expect(refusal(() => createDatabases(env))).toContain(`set ${passwordVariable(services[2])}`);
    dropAll();
  });

  it('gives each service a role that owns its own database and reaches no other', () => {
    // A password with quotes in it: psql quotes it, nothing is pasted into the SQL.
    createDatabases(
      Object.fromEntries(services.map((s) => [passwordVariable(s), `it's "${s}"; --`])),
    );

    for (const service of services) {
      const role = query(
        SUPERUSER,
        `SELECT rolsuper, rolcreatedb, rolcreaterole, rolcanlogin, rolpassword IS NOT NULL
           FROM pg_authid WHERE rolname = '${service}'`,
      );
      expect(role).toBe('f|f|f|t|t');
      // Its own database: it owns it, so its migrations can create tables there.
      query({ user: service, database: service }, 'CREATE TABLE migrated (id int)');
      for (const other of services.filter((name) => name !== service)) {
        expect(refusal(() => query({ user: service, database: other }, 'SELECT 1'))).toMatch(
          /permission denied for database/,
        );
      }
    }
  });
});
