import { ApiProperty } from '@nestjs/swagger';

export class DemoUsersDto {
  @ApiProperty({
    type: [String],
    example: ['alice', 'bob', 'admin'],
    description: 'The demo accounts that exist; empty unless SEED_DEMO_USERS is on',
  })
  usernames!: string[];
}
