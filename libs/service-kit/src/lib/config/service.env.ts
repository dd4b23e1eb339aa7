import { IsIn } from 'class-validator';

import { Setting } from './setting.decorator';
import { IsSecondsSetting } from './setting.types';

/**
 * The values `NODE_ENV` may take: any other fails start-up.
 *
 * @example
 * @IsIn(NODE_ENVIRONMENTS)
 * NODE_ENV: (typeof NODE_ENVIRONMENTS)[number] = 'development';
 */
export const NODE_ENVIRONMENTS = ['development', 'test', 'production'] as const;

/**
 * What every service reads; each service's environment class extends it, or a fragment that
 * does (`SessionRedisEnv`, `SessionRemoteEnv`).
 *
 * @example
 * // in a module every service shares: whichever environment class the app gave
 * constructor(private readonly env: ServiceEnv) {}
 */
export class ServiceEnv {
  @Setting('`production` turns on secure cookies and turns off demo data')
  @IsIn(NODE_ENVIRONMENTS)
  NODE_ENV: (typeof NODE_ENVIRONMENTS)[number] = 'development';

  @Setting("Seconds a client has to send a request's headers before it gets 408 and is closed")
  @IsSecondsSetting()
  HTTP_HEADERS_TIMEOUT = 10;

  @Setting('Seconds a client has to send a whole request, body included, before 408 and close')
  @IsSecondsSetting()
  HTTP_REQUEST_TIMEOUT = 30;
}
