import { IsString } from 'class-validator';

import { IsPortSetting, Setting } from '@cloakroom/service-kit';
import { SessionRedisEnv } from '@cloakroom/service-sessions';

/** The environment orders reads: the session and Redis settings, and its own. */
export class OrdersEnv extends SessionRedisEnv {
  @Setting('HTTP port of the orders service')
  @IsPortSetting()
  ORDERS_PORT = 3002;

  @Setting('`postgres://...` for PostgreSQL, anything else is an embedded SQLite file')
  @IsString()
  ORDERS_DATABASE_URL = 'sqlite:.data/orders.sqlite';
}
