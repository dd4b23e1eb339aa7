import { IsString } from 'class-validator';

import { IsPortSetting, Setting } from '@cloakroom/service-kit';
import { SessionRemoteEnv } from '@cloakroom/service-sessions';

/** The environment catalog reads: the remote session settings, and its own. */
export class CatalogEnv extends SessionRemoteEnv {
  @Setting('HTTP port of the catalog service')
  @IsPortSetting()
  CATALOG_PORT = 3003;

  @Setting('`postgres://...` for PostgreSQL, anything else is an embedded SQLite file')
  @IsString()
  CATALOG_DATABASE_URL = 'sqlite:.data/catalog.sqlite';
}
