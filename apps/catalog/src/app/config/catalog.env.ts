import { IsString, Matches } from 'class-validator';

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

  // Loopback by default; containers set 0.0.0.0 so that orders can reach it.
  @Setting("Address catalog's RPC (price quotes for other services) listens on")
  @IsString()
  CATALOG_RPC_LISTEN_HOST = '127.0.0.1';

  @Setting("Port of catalog's RPC")
  @IsPortSetting()
  CATALOG_RPC_PORT = 4003;

  @Setting("PEM file of catalog's RPC server certificate (mutual TLS)")
  @IsString()
  CATALOG_RPC_SERVER_CERT = '.data/certs/catalog-rpc.crt';

  @Setting('PEM file of the key of CATALOG_RPC_SERVER_CERT')
  @IsString()
  CATALOG_RPC_SERVER_KEY = '.data/certs/catalog-rpc.key';

  @Setting("PEM file of the CA that signs callers' client certificates; others are refused")
  @IsString()
  CATALOG_RPC_CLIENT_CA = '.data/certs/ca.crt';

  @Setting(
    'Session assertion keys catalog accepts, `issuer:kid:file` (Ed25519 public key PEM), comma-separated',
  )
  @Matches(/^[^:,\s]+:[^:,\s]+:[^,]+(,[^:,\s]+:[^:,\s]+:[^,]+)*$/, {
    message: 'SESSION_ASSERTION_TRUST must look like issuer:kid:file,issuer:kid:file',
  })
  SESSION_ASSERTION_TRUST = 'orders:orders-1:.data/certs/orders-assertion.pub';
}
