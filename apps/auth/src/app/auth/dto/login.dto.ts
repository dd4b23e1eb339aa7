import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsIn, IsNotEmpty, IsOptional, IsString, Matches, MaxLength } from 'class-validator';

import { PASSWORD_MAX_LENGTH } from '../../users/dto/create-user.dto';

export type LoginTransport = 'cookie' | 'bearer';

export class LoginDto {
  @ApiProperty({ example: 'alice' })
  @IsString()
  @IsNotEmpty()
  @MaxLength(64)
  // Only characters a username can have: control characters (NUL breaks PostgreSQL text) and
  // the like are a 400 before any lookup.
  @Matches(/^[A-Za-z0-9._-]+$/, { message: 'username has characters no username has' })
  username!: string;

  @ApiProperty({ example: 'alice-password' })
  @IsString()
  @IsNotEmpty()
  @MaxLength(PASSWORD_MAX_LENGTH)
  password!: string;

  @ApiPropertyOptional({
    enum: ['cookie', 'bearer'],
    default: 'cookie',
    description: '`cookie` sets an HttpOnly cookie; `bearer` returns the token in the body',
  })
  @IsOptional()
  @IsIn(['cookie', 'bearer'])
  transport?: LoginTransport;
}
