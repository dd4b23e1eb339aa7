import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';

import { Session } from '@cloakroom/session';

/** The user a session belongs to, as the session carries them. */
export class SessionUserDto {
  @ApiProperty({ format: 'uuid' })
  id!: string;

  @ApiProperty({ example: 'alice' })
  username!: string;

  @ApiProperty({ type: [String], example: ['customer'] })
  roles!: string[];
}

export class SessionInfoDto {
  @ApiProperty({ description: 'Public session id: names the session, cannot log in' })
  id!: string;

  @ApiProperty({ format: 'date-time' })
  createdAt!: string;

  @ApiProperty({ format: 'date-time', description: 'When the session dies unless used again' })
  expiresAt!: string;

  @ApiProperty({
    format: 'date-time',
    description: 'When the user last gave their password (login or re-authentication)',
  })
  authenticatedAt!: string;

  @ApiProperty({ description: 'A "remember me" session, with a persistent cookie' })
  persistent!: boolean;
}

/**
 * The caller's user and session; `token` only on a bearer login or rotation, `deviceToken`
 * only on a bearer login.
 */
export class AuthResponseDto {
  @ApiProperty({ type: SessionUserDto })
  user!: SessionUserDto;

  @ApiProperty({ type: SessionInfoDto })
  session!: SessionInfoDto;

  @ApiPropertyOptional({ description: 'Bearer mode only: send as `Authorization: Bearer`' })
  token?: string;

  @ApiPropertyOptional({
    description:
      "Bearer login only: this device's token, to send as `X-Device-Token` at later logins " +
      '(exempt from the per-username ceiling while the password is unchanged)',
  })
  deviceToken?: string;

  static from(session: Session, token?: string, deviceToken?: string): AuthResponseDto {
    return {
      user: { id: session.userId, username: session.username, roles: [...session.roles] },
      session: {
        id: session.id,
        createdAt: new Date(session.createdAt).toISOString(),
        expiresAt: new Date(session.expiresAt).toISOString(),
        authenticatedAt: new Date(session.authenticatedAt).toISOString(),
        persistent: session.persistent,
      },
      ...(token === undefined ? {} : { token }),
      ...(deviceToken === undefined ? {} : { deviceToken }),
    };
  }
}
