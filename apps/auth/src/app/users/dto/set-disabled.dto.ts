import { ApiProperty } from '@nestjs/swagger';
import { IsBoolean } from 'class-validator';

export class SetDisabledDto {
  @ApiProperty({ description: 'true ends every session of the user and refuses their logins' })
  @IsBoolean()
  disabled!: boolean;
}
