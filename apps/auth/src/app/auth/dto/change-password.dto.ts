import { ApiProperty } from '@nestjs/swagger';
import { IsNotEmpty, IsString } from 'class-validator';

import { PASSWORD_MAX_LENGTH, PASSWORD_MIN_LENGTH } from '../../users/password-policy';
import { PasswordInputField } from './password-input.field';

export class ChangePasswordDto {
  @ApiProperty()
  @PasswordInputField()
  currentPassword!: string;

  @ApiProperty({
    minLength: PASSWORD_MIN_LENGTH,
    maxLength: PASSWORD_MAX_LENGTH,
    description: 'Any Unicode; refused when easy to guess or equal to the current one',
  })
  // Length and strength are the password policy's: it counts code points and says why.
  @IsString()
  @IsNotEmpty()
  newPassword!: string;
}
