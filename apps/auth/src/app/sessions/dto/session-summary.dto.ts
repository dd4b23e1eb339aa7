import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';

import { Session } from '@cloakroom/session';

/** One of the caller's sessions, as the "where am I logged in" page lists them. */
export class SessionSummaryDto {
  @ApiProperty()
  id!: string;

  @ApiProperty({ format: 'date-time' })
  createdAt!: string;

  @ApiProperty({ format: 'date-time' })
  lastSeenAt!: string;

  @ApiPropertyOptional()
  ip?: string;

  @ApiPropertyOptional()
  userAgent?: string;

  @ApiProperty({ description: 'True for the session making this request' })
  current!: boolean;

  static from(session: Session, currentId: string): SessionSummaryDto {
    return {
      id: session.id,
      createdAt: new Date(session.createdAt).toISOString(),
      lastSeenAt: new Date(session.lastSeenAt).toISOString(),
      ip: session.ip,
      userAgent: session.userAgent,
      current: session.id === currentId,
    };
  }
}
