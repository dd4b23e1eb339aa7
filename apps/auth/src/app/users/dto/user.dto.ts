import { ApiProperty } from '@nestjs/swagger';

import { SessionUserDto } from '../../auth/dto/auth-response.dto';
import { User } from '../entities/user.entity';

/** A user as the admin API shows them: never the password hash. */
export class UserDto extends SessionUserDto {
  @ApiProperty({ example: false })
  disabled!: boolean;

  static from(user: Pick<User, 'id' | 'username' | 'roles' | 'disabled'>): UserDto {
    return {
      id: user.id,
      username: user.username,
      roles: [...user.roles],
      disabled: Boolean(user.disabled),
    };
  }
}
