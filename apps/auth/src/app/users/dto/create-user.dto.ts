import { ApiProperty } from '@nestjs/swagger';
import { Transform } from 'class-transformer';
import { IsString, Length, Matches } from 'class-validator';

import { RolesField } from './roles.field';

export const PASSWORD_MIN_LENGTH = 8;
/** An upper bound keeps a megabyte "password" from buying a megabyte of hashing. */
export const PASSWORD_MAX_LENGTH = 128;

export class CreateUserDto {
  @ApiProperty({ example: 'carol', pattern: '^[a-z0-9._-]{3,64}$' })
  @Transform(({ value }) => (typeof value === 'string' ? value.trim().toLowerCase() : value))
  @IsString()
  @Matches(/^[a-z0-9._-]{3,64}$/, {
    message: 'username must be 3 to 64 letters, digits, dots, dashes or underscores',
  })
  username!: string;

  @ApiProperty({ minLength: PASSWORD_MIN_LENGTH, maxLength: PASSWORD_MAX_LENGTH })
  @IsString()
  @Length(PASSWORD_MIN_LENGTH, PASSWORD_MAX_LENGTH)
  password!: string;

  @RolesField()
  roles!: string[];
}
