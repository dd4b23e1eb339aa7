import { ApiPropertyOptional } from '@nestjs/swagger';
import { IsOptional, IsString, MaxLength } from 'class-validator';

export class ActivityQueryDto {
  @ApiPropertyOptional({ description: 'The `next` of the previous page; absent for the first' })
  @IsOptional()
  @IsString()
  @MaxLength(80)
  cursor?: string;
}
