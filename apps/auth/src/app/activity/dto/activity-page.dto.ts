import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';

import { ActivityPage, ActivityRecord } from '../security-activity.service';

export class ActivityActorDto {
  @ApiProperty()
  id!: string;

  @ApiProperty()
  username!: string;
}

/** One security event (DESIGN §3.2). */
export class ActivityItemDto {
  @ApiProperty({ description: 'Opaque, unique' })
  id!: string;

  @ApiProperty({ example: 'login' })
  type!: string;

  @ApiProperty({ format: 'date-time' })
  at!: string;

  @ApiProperty({
    type: ActivityActorDto,
    nullable: true,
    description: 'Who did it: the user, an administrator; null for the system',
  })
  actor!: ActivityActorDto | null;

  @ApiProperty({
    type: String,
    nullable: true,
    description: 'Null for an action on every user (a revoke-all)',
  })
  userId!: string | null;

  @ApiPropertyOptional()
  sessionId?: string;

  @ApiPropertyOptional()
  ip?: string;

  @ApiPropertyOptional({ example: 'Chrome 131 on Windows' })
  device?: string;

  @ApiPropertyOptional({ example: 'admin' })
  reason?: string;

  static from(record: ActivityRecord): ActivityItemDto {
    return { ...record, at: new Date(record.at).toISOString() };
  }
}

/** A page of events, newest first. */
export class ActivityPageDto {
  @ApiProperty({ type: [ActivityItemDto] })
  items!: ActivityItemDto[];

  @ApiProperty({
    type: String,
    nullable: true,
    description: 'Pass as `cursor` for the next (older) page; null on the last page',
  })
  next!: string | null;

  static from(page: ActivityPage): ActivityPageDto {
    return { items: page.items.map(ActivityItemDto.from), next: page.next };
  }
}
