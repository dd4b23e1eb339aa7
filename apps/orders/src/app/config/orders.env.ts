import { IsString, Matches } from 'class-validator';

import { IsPortSetting, IsSecondsSetting, Setting } from '@cloakroom/service-kit';
import { SessionRedisEnv } from '@cloakroom/service-sessions';

/** The environment orders reads: the session and Redis settings, and its own. */
export class OrdersEnv extends SessionRedisEnv {
  @Setting('HTTP port of the orders service')
  @IsPortSetting()
  ORDERS_PORT = 3002;

  @Setting('`postgres://...` for PostgreSQL, anything else is an embedded SQLite file')
  @IsString()
  ORDERS_DATABASE_URL = 'sqlite:.data/orders.sqlite';

  @Setting("Host of catalog's RPC, which prices orders")
  @Matches(/^[^\s/]+$/, { message: 'CATALOG_RPC_HOST must be a host name or an address' })
  CATALOG_RPC_HOST = '127.0.0.1';

  @Setting("Port of catalog's RPC")
  @IsPortSetting()
  CATALOG_RPC_PORT = 4003;

  @Setting("PEM file of the CA that signed catalog's RPC server certificate")
  @IsString()
  CATALOG_RPC_CA = '.data/certs/ca.crt';

  @Setting("PEM file of orders' client certificate for catalog's RPC (mutual TLS)")
  @IsString()
  CATALOG_RPC_CLIENT_CERT = '.data/certs/orders.crt';

  @Setting('PEM file of the key of CATALOG_RPC_CLIENT_CERT')
  @IsString()
  CATALOG_RPC_CLIENT_KEY = '.data/certs/orders.key';

  @Setting('Seconds a price quote from catalog may take before the request answers 503')
  @IsSecondsSetting()
  CATALOG_RPC_TIMEOUT = 2;

  @Setting("PEM file of orders' Ed25519 key that signs session assertions to other services")
  @IsString()
  SESSION_ASSERTION_KEY = '.data/certs/orders-assertion.key';

  @Setting('Id of SESSION_ASSERTION_KEY, as the receiving services list it (rotation: a new id)')
  @Matches(/^[A-Za-z0-9._-]{1,64}$/, {
    message:
      'SESSION_ASSERTION_KEY_ID must be 1 to 64 letters, digits, dots, dashes or underscores',
  })
  SESSION_ASSERTION_KEY_ID = 'orders-1';
}
