import { Controller, Get } from '@nestjs/common';

import { Roles } from '@cloakroom/session';

import { REQUIRED_ROLE } from '../scenarios';

/** The one route every scenario serves; only the guard in front of it changes. */
@Controller()
export class BenchController {
  @Get('bench')
  @Roles(REQUIRED_ROLE)
  bench(): { ok: true } {
    return { ok: true };
  }
}
