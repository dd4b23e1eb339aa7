import { MigrationInterface, QueryRunner, TableColumn } from 'typeorm';

/** A disabled account cannot sign in, and had every session revoked when it was disabled. */
export class AddUserDisabled1765000000000 implements MigrationInterface {
  name = 'AddUserDisabled1765000000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.addColumn(
      'auth_users',
      new TableColumn({ name: 'disabled', type: 'boolean', default: false }),
    );
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.dropColumn('auth_users', 'disabled');
  }
}
