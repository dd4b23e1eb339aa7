import { Controller, Get } from '@nestjs/common';
import { ApiOkResponse, ApiTags } from '@nestjs/swagger';

import { Public } from '@cloakroom/session';

import { AuthEnv } from '../config/auth.env';
import { UsersService } from '../users/users.service';
import { DEMO_USERS } from './demo-users.seeder';
import { DemoUsersDto } from './dto/demo-users.dto';

/** Tells the web page whether to show the demo-credentials hint. */
@ApiTags('demo')
@Controller('demo-users')
export class DemoUsersController {
  constructor(
    private readonly env: AuthEnv,
    private readonly users: UsersService,
  ) {}

  @Public()
  @Get()
  @ApiOkResponse({ type: DemoUsersDto })
  async list(): Promise<DemoUsersDto> {
    if (!this.env.SEED_DEMO_USERS) {
      return { usernames: [] };
    }
    const found = await Promise.all(
      DEMO_USERS.map(({ username }) => this.users.findByUsername(username)),
    );
    return { usernames: DEMO_USERS.filter((_, index) => found[index]).map((u) => u.username) };
  }
}
