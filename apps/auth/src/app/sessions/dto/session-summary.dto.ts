import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';

import { Session } from '@cloakroom/session';

/** One session, as the "where am I logged in" page and the admin console list them. */
export class SessionSummaryDto {
  @ApiProperty()
  id!: string;

  @ApiProperty({ format: 'date-time' })
  createdAt!: string;

  @ApiProperty({ format: 'date-time' })
  lastSeenAt!: string;

  @ApiProperty({
    format: 'date-time',
    description: 'When the user last gave their password in this session',
  })
  authenticatedAt!: string;

  @ApiPropertyOptional()
  ip?: string;

  @ApiPropertyOptional({ example: 'Chrome 131 on Windows', description: 'Short client label' })
  device?: string;

  @ApiPropertyOptional({ description: 'The raw user agent; a store may keep only the label' })
  userAgent?: string;

  @ApiProperty({ description: 'A "remember me" session' })
  persistent!: boolean;

  @ApiPropertyOptional({ description: 'True for the session making this request (own list only)' })
  current?: boolean;

  /** @param currentId the caller's session, marked `current`; omitted in an admin's view. */
  static from(session: Session, currentId?: string): SessionSummaryDto {
    return {
      id: session.id,
      createdAt: new Date(session.createdAt).toISOString(),
      lastSeenAt: new Date(session.lastSeenAt).toISOString(),
      authenticatedAt: new Date(session.authenticatedAt).toISOString(),
      ip: session.ip,
      device: session.device,
      userAgent: session.userAgent,
      persistent: session.persistent,
      ...(currentId === undefined ? {} : { current: session.id === currentId }),
    };
  }
}
