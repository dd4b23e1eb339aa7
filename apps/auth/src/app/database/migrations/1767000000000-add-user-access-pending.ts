import { MigrationInterface, QueryRunner, TableColumn, TableIndex } from 'typeorm';

/**
 * Marks a user whose stored access (roles, `disabled`) may not have reached their sessions
 * yet, and one whose password changed while their other sessions may not have been revoked;
 * partial indexes keep the periodic look for such users cheap on any table size.
 */
export class AddUserAccessPending1767000000000 implements MigrationInterface {
  name = 'AddUserAccessPending1767000000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.addColumn(
      'auth_users',
      new TableColumn({ name: 'access_pending', type: 'boolean', default: false }),
    );
    await queryRunner.createIndex(
      'auth_users',
      new TableIndex({
        name: 'IDX_auth_users_access_pending',
        columnNames: ['updated_at'],
        where: 'access_pending = true',
      }),
    );
    await queryRunner.addColumn(
      'auth_users',
      new TableColumn({ name: 'sessions_revoke_pending', type: 'boolean', default: false }),
    );
    await queryRunner.createIndex(
      'auth_users',
      new TableIndex({
        name: 'IDX_auth_users_sessions_revoke_pending',
        columnNames: ['updated_at'],
        where: 'sessions_revoke_pending = true',
      }),
    );
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.dropIndex('auth_users', 'IDX_auth_users_sessions_revoke_pending');
    await queryRunner.dropColumn('auth_users', 'sessions_revoke_pending');
    await queryRunner.dropIndex('auth_users', 'IDX_auth_users_access_pending');
    await queryRunner.dropColumn('auth_users', 'access_pending');
  }
}
