import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { StartupError } from '@cloakroom/service-kit';

import { signingAssertions, trustedAssertions } from './assertion-options';

describe('session assertion options from settings', () => {
  const dir = mkdtempSync(join(tmpdir(), 'assertion-options-'));
  const pair = generateKeyPairSync('ed25519', {
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
    publicKeyEncoding: { type: 'spki', format: 'pem' },
  });
  const privateFile = join(dir, 'orders.key');
  const publicFile = join(dir, 'orders.pub');
  writeFileSync(privateFile, pair.privateKey);
  writeFileSync(publicFile, pair.publicKey);

  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('reads the signing key file', () => {
    expect(signingAssertions('orders', { SESSION_ASSERTION_KEY: privateFile }, 'orders-2')).toEqual(
      {
        service: 'orders',
        signingKey: { kid: 'orders-2', privateKey: pair.privateKey },
      },
    );
  });

  it('reads every trusted key, two of one issuer while it rotates', () => {
    const value = `orders:orders-1:${publicFile}, orders:orders-2:${publicFile}`;
    expect(trustedAssertions('catalog', 'SESSION_ASSERTION_TRUST', value)).toEqual({
      service: 'catalog',
      trustedKeys: [
        { kid: 'orders-1', issuer: 'orders', publicKey: pair.publicKey },
        { kid: 'orders-2', issuer: 'orders', publicKey: pair.publicKey },
      ],
    });
  });

  it('stops the service with one line naming the setting for a bad entry or a missing file', () => {
    expect(() => trustedAssertions('catalog', 'SESSION_ASSERTION_TRUST', 'orders-1')).toThrow(
      new StartupError('SESSION_ASSERTION_TRUST: "orders-1" is not issuer:kid:file'),
    );
    expect(() =>
      trustedAssertions('catalog', 'SESSION_ASSERTION_TRUST', `orders:k:${dir}/missing.pub`),
    ).toThrow(/^SESSION_ASSERTION_TRUST: cannot read .*missing\.pub \(ENOENT\)/);
  });
});
