import { MigrationInterface, QueryRunner, Table, TableIndex } from 'typeorm';

/**
 * The security activity log and the position its consumer reached in the session event
 * stream. One migration for both databases: the generated key is a BIGSERIAL on PostgreSQL and
 * SQLite's rowid (which must be spelled `integer` to be one).
 */
export class CreateSecurityEvents1766000000000 implements MigrationInterface {
  name = 'CreateSecurityEvents1766000000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    const postgres = queryRunner.connection.driver.options.type === 'postgres';
    await queryRunner.createTable(
      new Table({
        name: 'auth_security_events',
        columns: [
          {
            name: 'id',
            type: postgres ? 'bigint' : 'integer',
            isPrimary: true,
            isGenerated: true,
            generationStrategy: 'increment',
          },
          { name: 'type', type: 'varchar', length: '32' },
          { name: 'at', type: 'bigint' },
          { name: 'actor_id', type: 'varchar', length: '64', isNullable: true },
          { name: 'actor_username', type: 'varchar', length: '64', isNullable: true },
          { name: 'user_id', type: 'varchar', length: '64', isNullable: true },
          { name: 'session_id', type: 'varchar', length: '128', isNullable: true },
          { name: 'ip', type: 'varchar', length: '64', isNullable: true },
          { name: 'device', type: 'varchar', length: '128', isNullable: true },
          { name: 'reason', type: 'varchar', length: '128', isNullable: true },
          { name: 'stream_id', type: 'varchar', length: '48', isNullable: true },
        ],
        indices: [
          new TableIndex({
            name: 'IDX_auth_security_events_user_at_id',
            columnNames: ['user_id', 'at', 'id'],
          }),
          new TableIndex({ name: 'IDX_auth_security_events_at', columnNames: ['at'] }),
          // NULLs never collide, on either database: only stream events are deduplicated.
          new TableIndex({
            name: 'UQ_auth_security_events_stream_id',
            columnNames: ['stream_id'],
            isUnique: true,
          }),
        ],
      }),
    );
    await queryRunner.createTable(
      new Table({
        name: 'auth_activity_checkpoints',
        columns: [
          { name: 'name', type: 'varchar', length: '64', isPrimary: true },
          { name: 'last_ms', type: 'bigint' },
          { name: 'last_seq', type: 'bigint' },
        ],
      }),
    );
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.dropTable('auth_activity_checkpoints');
    await queryRunner.dropTable('auth_security_events');
  }
}
