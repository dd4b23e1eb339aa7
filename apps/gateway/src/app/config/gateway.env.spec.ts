import { StartupError, validateEnv } from '@cloakroom/service-kit';

import { allowedHostsOf, GatewayEnv, publicUrlOf, upstreamsOf } from './gateway.env';

describe('GatewayEnv', () => {
  it.each(['development', 'test', 'production'])('accepts NODE_ENV=%s', (value) => {
    expect(validateEnv(GatewayEnv, { NODE_ENV: value }).NODE_ENV).toBe(value);
  });

  it.each(['Production', 'prod', '', ' production', 'staging'])(
    'refuses NODE_ENV=%j with one line naming it',
    (value) => {
      const refuse = () => validateEnv(GatewayEnv, { NODE_ENV: value });
      expect(refuse).toThrow(StartupError);
      expect(refuse).toThrow(
        /^invalid configuration: NODE_ENV must be one of the following values/,
      );
      expect(refuse).not.toThrow(/\n/);
    },
  );
});

describe('GATEWAY_TRUST_PROXY', () => {
  it('trusts no one by default, and takes addresses, subnets and the named ranges', () => {
    expect(validateEnv(GatewayEnv, {}).GATEWAY_TRUST_PROXY).toBe('');
    const value = '10.0.0.7, 192.168.0.0/16,fd00::/8, ::1, loopback, LinkLocal, uniquelocal';
    expect(validateEnv(GatewayEnv, { GATEWAY_TRUST_PROXY: value }).GATEWAY_TRUST_PROXY).toBe(value);
  });

  it("is not auth's TRUST_PROXY, which `npm start` puts in the same environment", () => {
    // Auth's hop count would be refused here and stop the gateway; its addresses name the
    // gateway itself, which is no proxy in front of it.
    expect(validateEnv(GatewayEnv, { TRUST_PROXY: '1' }).GATEWAY_TRUST_PROXY).toBe('');
  });

  it.each(['true', '1', 'proxy.example', '10.0.0.0/33', '::/129', '10.0.0.0/8/8', '10.0.0.0/x'])(
    'refuses GATEWAY_TRUST_PROXY=%j with one line naming the entry',
    (value) => {
      const refuse = () => validateEnv(GatewayEnv, { GATEWAY_TRUST_PROXY: value });
      expect(refuse).toThrow(StartupError);
      expect(refuse).toThrow(new RegExp(`GATEWAY_TRUST_PROXY: "${value}" is not an address`));
      expect(refuse).not.toThrow(/\n/);
    },
  );
});

describe('allowedHostsOf', () => {
  it("is the public URL's host at its port, unless more are listed", () => {
    expect(allowedHostsOf(validateEnv(GatewayEnv, { PORT: '8080' }))).toEqual(['localhost:8080']);
    const env = validateEnv(GatewayEnv, {
      PUBLIC_URL: 'https://Shop.Example',
      SESSION_ALLOWED_ORIGINS: 'https://shop.example, http://other.example:8081,',
      GATEWAY_ALLOWED_HOSTS: 'Gateway.Internal, 10.0.0.5:3000,[fd00::5]',
    });
    expect(allowedHostsOf(env)).toEqual([
      'shop.example:443',
      'shop.example:443',
      'other.example:8081',
      'gateway.internal',
      '10.0.0.5:3000',
      '[fd00::5]',
    ]);
  });

  it.each([
    '*',
    '.example.com',
    'http://shop.example',
    'shop.example/',
    'user@shop.example',
    'shop.example:',
    'shop.example:99999',
    'shop.example.',
    'shop_example',
    '::1',
  ])('refuses GATEWAY_ALLOWED_HOSTS=%j with one line naming the entry', (value) => {
    const refuse = () => validateEnv(GatewayEnv, { GATEWAY_ALLOWED_HOSTS: `localhost,${value}` });
    expect(refuse).toThrow(StartupError);
    expect(refuse).toThrow(`GATEWAY_ALLOWED_HOSTS: "${value}" is not a host name`);
    expect(refuse).not.toThrow(/\n/);
  });

  it.each(['shop.example', 'https://shop.example/', 'https://shop.example:443', 'ftp://x'])(
    'refuses SESSION_ALLOWED_ORIGINS=%j, which no browser sends as an Origin',
    (value) => {
      const refuse = () => validateEnv(GatewayEnv, { SESSION_ALLOWED_ORIGINS: value });
      expect(refuse).toThrow(`SESSION_ALLOWED_ORIGINS: "${value}" is not an origin`);
    },
  );
});

describe('publicUrlOf', () => {
  it('is http://localhost:<PORT> unless PUBLIC_URL says otherwise', () => {
    expect(publicUrlOf(validateEnv(GatewayEnv, { PORT: '8080' })).href).toBe(
      'http://localhost:8080/',
    );
    const configured = validateEnv(GatewayEnv, { PUBLIC_URL: 'https://shop.example' });
    expect(publicUrlOf(configured).protocol).toBe('https:');
    expect(() => validateEnv(GatewayEnv, { PUBLIC_URL: 'shop.example' })).toThrow(/PUBLIC_URL/);
  });
});

describe('upstreamsOf', () => {
  it('reaches each service on this host at the port it listens on', () => {
    // `AUTH_PORT=3101 ... npm start`: one environment for all four processes.
    const env = validateEnv(GatewayEnv, {
      AUTH_PORT: '3101',
      ORDERS_PORT: '3102',
      CATALOG_PORT: '3103',
    });
    expect(upstreamsOf(env)).toEqual([
      { name: 'auth', url: 'http://127.0.0.1:3101' },
      { name: 'orders', url: 'http://127.0.0.1:3102' },
      { name: 'catalog', url: 'http://127.0.0.1:3103' },
    ]);
    expect(upstreamsOf(validateEnv(GatewayEnv, {})).map((upstream) => upstream.url)).toEqual([
      'http://127.0.0.1:3001',
      'http://127.0.0.1:3002',
      'http://127.0.0.1:3003',
    ]);
  });

  it('takes AUTH_URL, ORDERS_URL and CATALOG_URL over the ports', () => {
    const env = validateEnv(GatewayEnv, {
      AUTH_PORT: '3101',
      AUTH_URL: 'http://auth:3001',
      ORDERS_URL: 'http://orders:3002',
      CATALOG_URL: 'https://catalog.internal',
    });
    expect(upstreamsOf(env).map((upstream) => upstream.url)).toEqual([
      'http://auth:3001',
      'http://orders:3002',
      'https://catalog.internal',
    ]);
  });
});
