import { ApiProperty } from '@nestjs/swagger';
import { IsNotEmpty, IsString, Matches } from 'class-validator';

import { PASSWORD_MAX_LENGTH, PASSWORD_MIN_LENGTH } from '../password-policy';
import { NormalizedUsername } from '../username';
import { RolesField } from './roles.field';

export class CreateUserDto {
  @ApiProperty({ example: 'carol', pattern: '^[a-z0-9._-]{3,64}$' })
  @NormalizedUsername()
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
