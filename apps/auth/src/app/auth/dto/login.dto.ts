import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import {
  IsBoolean,
  IsIn,
  IsNotEmpty,
  IsString,
  Matches,
  MaxLength,
  ValidateIf,
} from 'class-validator';

import { NormalizedUsername } from '../../users/username';
import { PasswordInputField } from './password-input.field';

export type LoginTransport = 'cookie' | 'bearer';

/**
 * An optional field: left out, it is not checked; given, even as `null`, it is (class-validator's
 * `IsOptional` lets `null` through, and `rememberMe: null` would pass as false unseen).
 */
const Omittable = () => ValidateIf((_dto: unknown, value: unknown) => value !== undefined);

export class LoginDto {
  @ApiProperty({
    example: 'alice',
    description: 'As at creation: the whitespace around it is dropped, letters in any case',
  })
  // Normalised as creation does: a name that creates an account signs in to it (" Alice " too).
  @NormalizedUsername()
  @IsString()
  @IsNotEmpty()
  @MaxLength(64)
  // Only characters a username can have: control characters (NUL breaks PostgreSQL text) and
  // the like are a 400 before any lookup.
  @Matches(/^[a-z0-9._-]+$/, { message: 'username has characters no username has' })
  username!: string;

  @ApiProperty({ example: 'alice-password' })
  @PasswordInputField()
  password!: string;

  @ApiPropertyOptional({
    enum: ['cookie', 'bearer'],
    default: 'cookie',
    description: '`cookie` sets an HttpOnly cookie; `bearer` returns the token in the body',
  })
  @Omittable()
  @IsIn(['cookie', 'bearer'])
  transport?: LoginTransport;

  @ApiPropertyOptional({
    default: false,
    description:
      'true: a persistent cookie and the longer SESSION_REMEMBER_* timeouts; ' +
      'false: a browser-session cookie, gone when the browser closes',
  })
  @Omittable()
  @IsBoolean()
  rememberMe?: boolean;

  @ApiPropertyOptional({
    description:
      'A session id of this user to end in the same login, once the password is verified: ' +
      'what the 409 of SESSION_CAP_POLICY=refuse asks for',
  })
  @Omittable()
  @IsString()
  @MaxLength(128)
  replaceSession?: string;
}
