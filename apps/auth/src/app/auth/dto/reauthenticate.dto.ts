import { ApiProperty } from '@nestjs/swagger';

import { PasswordInputField } from './password-input.field';

export class ReauthenticateDto {
  @ApiProperty({ description: "The signed-in user's password" })
  @PasswordInputField()
  password!: string;
}
