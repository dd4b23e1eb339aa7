import { applyDecorators } from '@nestjs/common';
import {
  IsInt,
  IsNumber,
  IsOptional,
  IsPositive,
  IsString,
  IsUrl,
  Min,
  ValidateBy,
} from 'class-validator';

import {
  IsPortSetting,
  IsSecondsSetting,
  ServiceEnv,
  Setting,
  ToNumber,
} from '@cloakroom/service-kit';

import { hostOfOrigin, parseAllowedHosts } from '../security/allowed-hosts';
import { parseTrustedProxies } from '../security/trusted-proxies';

const SERVICE_URL = { protocols: ['http', 'https'], require_protocol: true, require_tld: false };

/** The environment the gateway reads; defaults are those of local development. */
export class GatewayEnv extends ServiceEnv {
  @Setting('HTTP port of the gateway: the one origin the browser sees')
  @IsPortSetting()
  PORT = 3000;

  @Setting('HTTP port of the auth service on this host, reached there unless AUTH_URL is set')
  @IsPortSetting()
  AUTH_PORT = 3001;

  @Setting('HTTP port of the orders service on this host, reached there unless ORDERS_URL is set')
  @IsPortSetting()
  ORDERS_PORT = 3002;

  @Setting('HTTP port of the catalog service on this host, reached there unless CATALOG_URL is set')
  @IsPortSetting()
  CATALOG_PORT = 3003;

  @Setting('Base URL of the auth service; unset: http://127.0.0.1:<AUTH_PORT>')
  @IsOptional()
  @IsUrl(SERVICE_URL)
  AUTH_URL?: string;

  @Setting('Base URL of the orders service; unset: http://127.0.0.1:<ORDERS_PORT>')
  @IsOptional()
  @IsUrl(SERVICE_URL)
  ORDERS_URL?: string;

  @Setting('Base URL of the catalog service; unset: http://127.0.0.1:<CATALOG_PORT>')
  @IsOptional()
  @IsUrl(SERVICE_URL)
  CATALOG_URL?: string;

  @Setting('Seconds a proxied request may take before the gateway answers 504')
  @IsSecondsSetting()
  PROXY_TIMEOUT = 30;

  @Setting('Mebibytes of request bodies the gateway holds at once while reading them; beyond: 503')
  @IsMebibytes()
  PROXY_BODY_MEMORY = 64;

  @Setting(
    'Mebibytes of those one client network (IPv4 address, IPv6 /64) may hold, all /64s of an ' +
      'IPv6 /48 four times it; beyond: 429',
  )
  @IsMebibytes()
  PROXY_BODY_MEMORY_PER_CLIENT = 8;

  @Setting(
    'Open connections one client network may hold, all /64s of an IPv6 /48 four times it; past ' +
      'them, closed at once (0: no cap)',
  )
  @ToNumber()
  @IsInt()
  @Min(0)
  CONNECTIONS_PER_CLIENT = 256;

  @Setting(
    'Proxies in front whose X-Forwarded-For names the client: addresses, subnets, loopback, ' +
      'linklocal, uniquelocal (comma-separated; empty: none). Exempt from CONNECTIONS_PER_CLIENT',
  )
  @IsString()
  @IsTrustedProxies()
  GATEWAY_TRUST_PROXY = '';

  @Setting(
    'The origin browsers reach the gateway at (scheme, host, port); the services see it in ' +
      'X-Forwarded-Host/-Proto, and `https:` turns HSTS on. Unset: http://localhost:<PORT>',
  )
  @IsOptional()
  @IsUrl(SERVICE_URL)
  PUBLIC_URL?: string;

  // `npm start` gives every process one environment: the origins the services let write are
  // the gateway's too.
  @Setting(
    'Comma list of the origins the services accept cookie-authenticated writes from; read here ' +
      "for the hosts the gateway answers (each origin's host and port)",
  )
  @IsOptional()
  @IsString()
  @IsOriginList()
  SESSION_ALLOWED_ORIGINS?: string;

  @Setting(
    'Hosts the gateway answers besides its own (PUBLIC_URL, SESSION_ALLOWED_ORIGINS, loopback ' +
      'names at its port): `name` (any port) or `name:port`, comma-separated; any other Host: 421',
  )
  @IsString()
  @IsAllowedHosts()
  GATEWAY_ALLOWED_HOSTS = '';
}

/** An amount of memory in mebibytes: any positive number, so tests can use a few KiB. */
function IsMebibytes(): PropertyDecorator {
  return applyDecorators(ToNumber(), IsNumber(), IsPositive());
}

/** A `GATEWAY_TRUST_PROXY` list `TrustedProxies` takes; the message names the entry it cannot. */
function IsTrustedProxies(): PropertyDecorator {
  return validatedBy('isTrustedProxies', parseTrustedProxies);
}

/** A `GATEWAY_ALLOWED_HOSTS` list; the message names the entry that is not a host. */
function IsAllowedHosts(): PropertyDecorator {
  return validatedBy('isAllowedHosts', parseAllowedHosts);
}

/** A comma list of `http:`/`https:` origins; the message names the entry that is not one. */
function IsOriginList(): PropertyDecorator {
  return validatedBy('isOriginList', originsOf);
}

/** A setting valid when `parse` takes it; the message is the error `parse` throws. */
function validatedBy(name: string, parse: (value: string) => unknown): PropertyDecorator {
  const problemOf = (value: unknown) => {
    try {
      parse(String(value));
      return undefined;
    } catch (error) {
      return (error as Error).message;
    }
  };
  return ValidateBy({
    name,
    validator: {
      validate: (value) => problemOf(value) === undefined,
      defaultMessage: (args) => `$property: ${problemOf(args?.value)}`,
    },
  });
}

/** The origins of a comma list; throws naming the first entry that is not an origin. */
function originsOf(list: string): URL[] {
  return list
    .split(',')
    .map((entry) => entry.trim())
    .filter(Boolean)
    .map((entry) => {
      const url = URL.canParse(entry) ? new URL(entry) : undefined;
      if (!url || !['http:', 'https:'].includes(url.protocol) || url.origin !== entry) {
        throw new Error(`"${entry}" is not an origin (scheme://host[:port])`);
      }
      return url;
    });
}

/**
 * The hosts the gateway answers besides the loopback names (`AllowedHosts`): `PUBLIC_URL`'s,
 * each origin's of `SESSION_ALLOWED_ORIGINS`, and `GATEWAY_ALLOWED_HOSTS`.
 */
export function allowedHostsOf(env: GatewayEnv): string[] {
  const origins = [publicUrlOf(env), ...originsOf(env.SESSION_ALLOWED_ORIGINS ?? '')];
  return [...origins.map(hostOfOrigin), ...parseAllowedHosts(env.GATEWAY_ALLOWED_HOSTS)];
}

const MiB = 1024 * 1024;

/** The gateway's budget for request bodies it is reading, in bytes. */
export function bodyMemoryOf(env: GatewayEnv): { total: number; perClient: number } {
  return {
    total: Math.round(env.PROXY_BODY_MEMORY * MiB),
    perClient: Math.round(Math.min(env.PROXY_BODY_MEMORY_PER_CLIENT, env.PROXY_BODY_MEMORY) * MiB),
  };
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
    // `npm start` gives every process one environment: the services' ports say where they listen.
    { name: 'auth', url: env.AUTH_URL ?? `http://127.0.0.1:${env.AUTH_PORT}` },
    { name: 'orders', url: env.ORDERS_URL ?? `http://127.0.0.1:${env.ORDERS_PORT}` },
    { name: 'catalog', url: env.CATALOG_URL ?? `http://127.0.0.1:${env.CATALOG_PORT}` },
  ];
}
