import { ApiProperty } from '@nestjs/swagger';
import { Transform } from 'class-transformer';
import { IsNotEmpty, IsString, Matches } from 'class-validator';

import { PASSWORD_MAX_LENGTH, PASSWORD_MIN_LENGTH } from '../password-policy';
import { RolesField } from './roles.field';

export class CreateUserDto {
  @ApiProperty({ example: 'carol', pattern: '^[a-z0-9._-]{3,64}$' })
  // ASCII letters only: `toLowerCase` makes the Kelvin sign a `k`, so a name login refuses
  // (400) would be stored as another, and one could not sign in with what one was given.
  @Transform(({ value }) =>
    typeof value === 'string' ? value.trim().replace(/[A-Z]/g, (c) => c.toLowerCase()) : value,
  )
  @IsString()
  @Matches(/^[a-z0-9._-]{3,64}$/, {
    message: 'username must be 3 to 64 letters, digits, dots, dashes or underscores',
  })
  username!: string;

  @ApiProperty({
    minLength: PASSWORD_MIN_LENGTH,
    maxLength: PASSWORD_MAX_LENGTH,
    description: 'Any Unicode; refused when easy to guess (PasswordPolicyService)',
  })
  // Length and strength are the password policy's: it counts code points and says why.
  @IsString()
  @IsNotEmpty()
  password!: string;

  @RolesField()
  roles!: string[];
}
