import { MigrationInterface, QueryRunner, Table } from 'typeorm';

/** The user table; column types come from the driver so one migration fits both databases. */
export class CreateUsers1764000000000 implements MigrationInterface {
  name = 'CreateUsers1764000000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    const types = queryRunner.connection.driver.mappedDataTypes;
    await queryRunner.createTable(
      new Table({
        name: 'auth_users',
        columns: [
          { name: 'id', type: 'varchar', length: '36', isPrimary: true },
          { name: 'username', type: 'varchar', length: '64', isUnique: true },
          { name: 'password_hash', type: 'varchar', length: '255' },
          { name: 'roles', type: 'text' },
          {
            name: 'created_at',
            type: String(types.createDate),
            default: types.createDateDefault,
          },
          {
            name: 'updated_at',
            type: String(types.updateDate),
            default: types.updateDateDefault,
          },
        ],
      }),
    );
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.dropTable('auth_users');
  }
}
