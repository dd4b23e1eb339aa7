import { MigrationInterface, QueryRunner, TableColumn } from 'typeorm';

/**
 * Names, beside a password change's revocation mark, the session that made the change: the one
 * session `AccessSync` keeps when it revokes the others for the mark.
 */
export class AddUserSessionsRevokeKeep1768000000000 implements MigrationInterface {
  name = 'AddUserSessionsRevokeKeep1768000000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.addColumn(
      'auth_users',
      new TableColumn({
        name: 'sessions_revoke_keep',
        type: 'varchar',
        length: '64',
        isNullable: true,
      }),
    );
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.dropColumn('auth_users', 'sessions_revoke_keep');
  }
}
