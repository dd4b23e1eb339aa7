import { generateKeyPairSync } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** PEM files of one service's session assertion key pair. */
export interface AssertionKeyFiles {
  /** PKCS#8 private key: the signing service's `assertions.signingKey`. */
  privateKey: string;
  /** SPKI public key: a receiving service's `assertions.trustedKeys` entry. */
  publicKey: string;
}

/**
 * Writes a fresh Ed25519 key pair for session assertions, `<name>-assertion.key` and `.pub`
 * in `dir`: what `tools/dev-ca/make-dev-certs.sh` makes for `npm start`, for tests.
 *
 * @example
 * const keys = makeAssertionKeys(dir, 'orders');
 * // orders: SESSION_ASSERTION_KEY=keys.privateKey; catalog trusts keys.publicKey
 */
export function makeAssertionKeys(dir: string, name: string): AssertionKeyFiles {
  mkdirSync(dir, { recursive: true });
  const pair = generateKeyPairSync('ed25519', {
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
    publicKeyEncoding: { type: 'spki', format: 'pem' },
  });
  const files = {
    privateKey: join(dir, `${name}-assertion.key`),
    publicKey: join(dir, `${name}-assertion.pub`),
  };
  writeFileSync(files.privateKey, pair.privateKey, { mode: 0o600 });
  writeFileSync(files.publicKey, pair.publicKey);
  return files;
}
