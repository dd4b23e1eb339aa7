import { Column, Entity, Index, PrimaryGeneratedColumn, ValueTransformer } from 'typeorm';

/** PostgreSQL hands a `bigint` back as a string; epoch milliseconds fit a JS number. */
const epochMs: ValueTransformer = {
  to: (value: number | undefined) => value,
  from: (value: string | number | null) => (value === null ? value : Number(value)),
};

/**
 * One security event of the activity log: a session lifecycle event read from the session
 * library's stream, or an event the app recorded itself (failed or throttled login, password
 * change, ...). Rows are immutable; retention deletes them by age.
 */
@Entity({ name: 'auth_security_events' })
// Newest-first keyset paging of one user's events: `WHERE user_id = ? ORDER BY at DESC, id DESC`.
@Index('IDX_auth_security_events_user_at_id', ['userId', 'at', 'id'])
// Retention deletes by age, oldest first.
@Index('IDX_auth_security_events_at', ['at'])
export class SecurityEvent {
  /** Generated; ties between events of the same millisecond are broken by it. */
  @PrimaryGeneratedColumn('increment', { type: 'bigint' })
  id!: string;

  @Column({ type: 'varchar', length: 32 })
  type!: string;

  /** Epoch milliseconds: the stream's (Redis) clock for lifecycle events, else this host's. */
  @Column({ type: 'bigint', transformer: epochMs })
  at!: number;

  /** Null when the system did it (expiry, cap). */
  @Column({ name: 'actor_id', type: 'varchar', length: 64, nullable: true })
  actorId!: string | null;

  @Column({ name: 'actor_username', type: 'varchar', length: 64, nullable: true })
  actorUsername!: string | null;

  /**
   * Whose account it concerns; null for a revocation of every user's sessions, a login attempt
   * for an unknown username, or a marker of events the log may have missed.
   */
  @Column({ name: 'user_id', type: 'varchar', length: 64, nullable: true })
  userId!: string | null;

  @Column({ name: 'session_id', type: 'varchar', length: 128, nullable: true })
  sessionId!: string | null;

  @Column({ type: 'varchar', length: 64, nullable: true })
  ip!: string | null;

  @Column({ type: 'varchar', length: 128, nullable: true })
  device!: string | null;

  @Column({ type: 'varchar', length: 128, nullable: true })
  reason!: string | null;

  /**
   * The session event stream's entry id for lifecycle events (unique: a replayed or
   * concurrently consumed event is stored once); null for events the app recorded itself.
   */
  @Index('UQ_auth_security_events_stream_id', { unique: true })
  @Column({ name: 'stream_id', type: 'varchar', length: 48, nullable: true })
  streamId!: string | null;
}
