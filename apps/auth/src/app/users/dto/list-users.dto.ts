import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsOptional, IsString, Matches, MaxLength } from 'class-validator';

import { User } from '../entities/user.entity';
import { UserDto } from './user.dto';

export class ListUsersQueryDto {
  @ApiPropertyOptional({
    description: 'Only usernames containing this text (case-insensitive, taken literally)',
  })
  @IsOptional()
  @IsString()
  @MaxLength(64)
  // No username holds a control character, and a NUL would reach the query: PostgreSQL refuses
  // it (a 500) and SQLite ends the pattern there (every user matches).
  @Matches(/^\P{Cc}*$/u, { message: 'search must not contain control characters' })
  search?: string;

  @ApiPropertyOptional({ description: 'The `next` of the previous page' })
  @IsOptional()
  @IsString()
  @MaxLength(128)
  cursor?: string;
}

/** A user in the admin console's list. */
export class UserListItemDto extends UserDto {
  @ApiProperty({ format: 'date-time' })
  createdAt!: string;

  @ApiProperty({ description: 'Live sessions now' })
  sessionCount!: number;

  static fromUser(user: User, sessionCount: number): UserListItemDto {
    return {
      ...UserDto.from(user),
      createdAt: new Date(user.createdAt).toISOString(),
      sessionCount,
    };
  }
}

export class UserPageDto {
  @ApiProperty({ type: [UserListItemDto] })
  items!: UserListItemDto[];

  @ApiProperty({
    type: String,
    nullable: true,
    description: 'Pass as `cursor` for the next page; null on the last one',
  })
  next!: string | null;
}
