import { ApiProperty } from '@nestjs/swagger';

import { User } from '../entities/user.entity';

/** A user as the API shows them: never the password hash. */
export class UserDto {
  @ApiProperty({ format: 'uuid' })
  id!: string;

  @ApiProperty({ example: 'alice' })
  username!: string;

  @ApiProperty({ type: [String], example: ['customer'] })
  roles!: string[];

  static from(user: Pick<User, 'id' | 'username' | 'roles'>): UserDto {
    return { id: user.id, username: user.username, roles: [...user.roles] };
  }
}
