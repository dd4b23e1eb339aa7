import { MigrationInterface, QueryRunner, TableColumn } from 'typeorm';

/**
 * Records, beside a password change's revocation mark, the instant the change was written on
 * the sessions' clock: `AccessSync` then revokes only the sessions of the old password, never
 * those logged in with the new one while the mark stayed.
 */
export class AddUserSessionsRevokeBefore1769000000000 implements MigrationInterface {
  name = 'AddUserSessionsRevokeBefore1769000000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.addColumn(
      'auth_users',
      new TableColumn({ name: 'sessions_revoke_before', type: 'bigint', isNullable: true }),
    );
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.dropColumn('auth_users', 'sessions_revoke_before');
  }
}
