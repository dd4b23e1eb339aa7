import { Column, Entity, PrimaryColumn, ValueTransformer } from 'typeorm';

const bigintNumber: ValueTransformer = {
  to: (value: number | undefined) => value,
  from: (value: string | number) => Number(value),
};

/**
 * How far the activity log has consumed the session event stream, shared by every auth
 * instance. The id is kept as its two numbers so that SQL can compare positions and only ever
 * move the checkpoint forward.
 */
@Entity({ name: 'auth_activity_checkpoints' })
export class ActivityCheckpoint {
  /** What was consumed, e.g. `session-events`. */
  @PrimaryColumn({ type: 'varchar', length: 64 })
  name!: string;

  /** Milliseconds part of the last stream id stored. */
  @Column({ name: 'last_ms', type: 'bigint', transformer: bigintNumber })
  lastMs!: number;

  /** Sequence part of the last stream id stored. */
  @Column({ name: 'last_seq', type: 'bigint', transformer: bigintNumber })
  lastSeq!: number;
}
