import {
  Column,
  CreateDateColumn,
  DataSource,
  DataSourceOptions,
  Entity,
  PrimaryColumn,
} from 'typeorm';

import { databaseOptions } from '../src/lib/database.options';

const POSTGRES_URL = 'postgres://postgres@127.0.0.1:5432/test';
const TABLE = `utc_probe_${process.pid}`;

@Entity({ name: TABLE })
class Probe {
  @PrimaryColumn({ type: 'varchar', length: 8 })
  id!: string;

  @Column({ type: 'varchar', length: 8, default: '' })
  note!: string;

  @CreateDateColumn({ name: 'created_at' })
  createdAt!: Date;
}

/**
 * TypeORM's date columns are `timestamp without time zone` on PostgreSQL, which pg reads and
 * writes in the process's time zone by default, and which `now()` fills in the session's. Run
 * in Paris time, with sessions that start in New York time unless the library says otherwise
 * (jest.config.ts): an instant must come back as it went in, in its order (the clocks went back
 * at 01:00 UTC on 2026-10-25 in Paris), and a default of now() must be now.
 */
describe('PostgreSQL timestamps through databaseOptions, in a zone with daylight saving', () => {
  let data: DataSource;

  beforeAll(async () => {
    data = new DataSource({
      ...(databaseOptions(POSTGRES_URL, {
        entities: [Probe],
        migrations: [],
      }) as DataSourceOptions),
      migrationsRun: false,
    });
    await data.initialize();
    await data.query(
      `CREATE TABLE "${TABLE}" (id varchar(8) PRIMARY KEY, note varchar(8) NOT NULL DEFAULT '', created_at timestamp NOT NULL DEFAULT now())`,
    );
  });

  afterAll(async () => {
    await data?.query(`DROP TABLE IF EXISTS "${TABLE}"`);
    await data?.destroy();
  });

  it('runs in zones that are not UTC (else this file proves nothing)', async () => {
    expect(new Date('2026-10-25T00:30:00Z').getHours()).toBe(2);
    expect(new Date('2026-10-25T01:10:00Z').getHours()).toBe(2);
    const other = new DataSource({ type: 'postgres', url: POSTGRES_URL });
    await other.initialize();
    try {
      expect(await other.query('SHOW TimeZone')).toEqual([{ TimeZone: 'America/New_York' }]);
    } finally {
      await other.destroy();
    }
  });

  it('reads back the instants it wrote, in their order, across the change', async () => {
    const probes = data.getRepository(Probe);
    const before = new Date('2026-10-25T00:30:00.123Z');
    const after = new Date('2026-10-25T01:10:00.456Z');
    await probes.save([
      probes.create({ id: 'before', createdAt: before }),
      probes.create({ id: 'after', createdAt: after }),
    ]);
    const rows = await probes.find({ order: { createdAt: 'DESC' } });
    expect(rows.map(({ id, createdAt }) => [id, createdAt.toISOString()])).toEqual([
      ['after', after.toISOString()],
      ['before', before.toISOString()],
    ]);
    // A date as a query parameter means the same instant.
    const [later] = await probes
      .createQueryBuilder('p')
      .where('p.createdAt > :at', { at: before })
      .getMany();
    expect(later?.id).toBe('after');
  });

  it('fills a column default of now() with the current instant', async () => {
    await data.query(`INSERT INTO "${TABLE}" (id) VALUES ('default')`);
    const row = await data.getRepository(Probe).findOneByOrFail({ id: 'default' });
    expect(Math.abs(row.createdAt.getTime() - Date.now())).toBeLessThan(60_000);
  });
});
