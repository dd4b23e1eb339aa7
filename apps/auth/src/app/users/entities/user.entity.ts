import { Column, CreateDateColumn, Entity, PrimaryColumn, UpdateDateColumn } from 'typeorm';

@Entity({ name: 'auth_users' })
export class User {
  /** A UUID chosen by the app, so SQLite and PostgreSQL behave the same. */
  @PrimaryColumn({ type: 'varchar', length: 36 })
  id!: string;

  /** Stored lower-cased: `Alice` and `alice` are one account. */
  @Column({ type: 'varchar', length: 64, unique: true })
  username!: string;

  /** An argon2id PHC string; never the password. */
  @Column({ name: 'password_hash', type: 'varchar', length: 255 })
  passwordHash!: string;

  @Column({ type: 'simple-json' })
  roles!: string[];

  /** A disabled account cannot sign in; disabling it revoked its sessions. */
  @Column({ type: 'boolean', default: false })
  disabled!: boolean;

  /**
   * Set with every access change (roles, `disabled`) and cleared once the user's sessions are
   * known to carry it; while set, `AccessSync` applies the stored access to them again.
   */
  @Column({ name: 'access_pending', type: 'boolean', default: false })
  accessPending!: boolean;

  /**
   * Moved by every write of the access (roles, `disabled`), put-backs included: a change is
   * the one out of the version it read, whoever reports it (see `UsersService.changeAccess`).
   */
  @Column({ name: 'access_version', type: 'integer', default: 0 })
  accessVersion!: number;

  /**
   * Set with the new password's hash and cleared once every other session of the user is
   * revoked; while set, `AccessSync` revokes those of the old password
   * (`sessionsRevokeBefore`).
   */
  @Column({ name: 'sessions_revoke_pending', type: 'boolean', default: false })
  sessionsRevokePending!: boolean;

  /**
   * The session that made the password change `sessionsRevokePending` marks, by the id it had
   * then: the one session `AccessSync` keeps (under the id a rotation moved it to, while the
   * rotation's forward lives), as the change itself does. Null: none is kept.
   */
  @Column({ name: 'sessions_revoke_keep', type: 'varchar', length: 64, nullable: true })
  sessionsRevokeKeep!: string | null;

  /**
   * The instant, on the sessions' clock (epoch ms), just before the password change
   * `sessionsRevokePending` marks was written: the sessions created before it that have not
   * proved the new password since (re-authenticated) are of the old one, and `AccessSync`
   * revokes only those. Null with the mark (written before this was recorded): every session
   * but `sessionsRevokeKeep`.
   */
  @Column({
    name: 'sessions_revoke_before',
    type: 'bigint',
    nullable: true,
    // PostgreSQL answers a bigint as a string.
    transformer: {
      to: (value: number | null) => value,
      from: (value: string | number | null) => (value === null ? null : Number(value)),
    },
  })
  sessionsRevokeBefore!: number | null;

  @CreateDateColumn({ name: 'created_at' })
  createdAt!: Date;

  @UpdateDateColumn({ name: 'updated_at' })
  updatedAt!: Date;
}
