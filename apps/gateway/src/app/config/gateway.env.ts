import { IsOptional, IsUrl } from 'class-validator';

import { IsPortSetting, IsSecondsSetting, ServiceEnv, Setting } from '@cloakroom/service-kit';

const SERVICE_URL = { protocols: ['http', 'https'], require_protocol: true, require_tld: false };

/** The environment the gateway reads; defaults are those of local development. */
export class GatewayEnv extends ServiceEnv {
  @Setting('HTTP port of the gateway: the one origin the browser sees')
  @IsPortSetting()
  PORT = 3000;

  @Setting('Base URL of the auth service')
  @IsUrl(SERVICE_URL)
  AUTH_URL = 'http://127.0.0.1:3001';

  @Setting('Base URL of the orders service')
  @IsUrl(SERVICE_URL)
  ORDERS_URL = 'http://127.0.0.1:3002';

  @Setting('Base URL of the catalog service')
  @IsUrl(SERVICE_URL)
  CATALOG_URL = 'http://127.0.0.1:3003';

  @Setting('Seconds a proxied request may take before the gateway answers 504')
  @IsSecondsSetting()
  PROXY_TIMEOUT = 30;

  @Setting(
    'The origin browsers reach the gateway at (scheme, host, port); the services see it in ' +
      'X-Forwarded-Host/-Proto, and `https:` turns HSTS on. Unset: http://localhost:<PORT>',
  )
  @IsOptional()
  @IsUrl(SERVICE_URL)
  PUBLIC_URL?: string;
}

/** Where browsers reach the gateway: what the services are told, whatever the client sent. */
export function publicUrlOf(env: GatewayEnv): URL {
  return new URL(env.PUBLIC_URL ?? `http://localhost:${env.PORT}`);
}

/** A service behind the gateway: its paths all start with `/api/<name>`. */
export interface Upstream {
  name: 'auth' | 'orders' | 'catalog';
  url: string;
}

export function upstreamsOf(env: GatewayEnv): Upstream[] {
  return [
    { name: 'auth', url: env.AUTH_URL },
    { name: 'orders', url: env.ORDERS_URL },
    { name: 'catalog', url: env.CATALOG_URL },
  ];
}
