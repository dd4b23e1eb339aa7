import { MigrationInterface, QueryRunner, TableColumn } from 'typeorm';

/**
 * Counts the writes of a user's access (roles, `disabled`): each change leaves one version for
 * the next, so whoever reports a change (its own answer, or a look after its answer was lost)
 * names it by the version it left, and the activity log stores it once.
 */
export class AddUserAccessVersion1770000000000 implements MigrationInterface {
  name = 'AddUserAccessVersion1770000000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.addColumn(
      'auth_users',
      new TableColumn({ name: 'access_version', type: 'integer', default: 0 }),
    );
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.dropColumn('auth_users', 'access_version');
  }
}
