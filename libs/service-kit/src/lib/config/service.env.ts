import { IsIn } from 'class-validator';

import { Setting } from './setting.decorator';

export const NODE_ENVIRONMENTS = ['development', 'test', 'production'] as const;

/**
 * What every service reads; each service's environment class extends it, or a fragment that
 * does (`SessionRedisEnv`, `SessionRemoteEnv`).
 */
export class ServiceEnv {
  @Setting('`production` turns on secure cookies and turns off demo data')
  @IsIn(NODE_ENVIRONMENTS)
  NODE_ENV: (typeof NODE_ENVIRONMENTS)[number] = 'development';
}
