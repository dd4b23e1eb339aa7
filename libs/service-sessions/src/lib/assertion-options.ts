import { StartupError } from '@cloakroom/service-kit';
import type { SessionAssertionKey, SessionAssertionOptions } from '@cloakroom/session';

import { readPemFiles } from './pem-files';

/**
 * Session assertion options of a service that signs them (orders): its Ed25519 private key
 * (PEM file, read here) and the key's id.
 *
 * @example
 * signingAssertions('orders', { SESSION_ASSERTION_KEY: path }, 'orders-1');
 */
export function signingAssertions(
  service: string,
  keyFile: Record<string, string>,
  kid: string,
): SessionAssertionOptions {
  const [privateKey] = Object.values(readPemFiles(keyFile));
  return { service, signingKey: { kid, privateKey } };
}

/**
 * Session assertion options of a service that accepts them (catalog): the trusted keys, as a
 * setting lists them, `issuer:kid:file` separated by commas (two entries of one issuer while
 * its key rotates).
 *
 * @example
 * trustedAssertions('catalog', 'SESSION_ASSERTION_TRUST', 'orders:orders-1:.data/certs/orders-assertion.pub');
 */
export function trustedAssertions(
  service: string,
  setting: string,
  value: string,
): SessionAssertionOptions {
  const trustedKeys: SessionAssertionKey[] = [];
  for (const entry of value
    .split(',')
    .map((item) => item.trim())
    .filter(Boolean)) {
    const [issuer, kid, ...path] = entry.split(':');
    const file = path.join(':');
    if (!issuer || !kid || !file) {
      throw new StartupError(`${setting}: "${entry}" is not issuer:kid:file`);
    }
    const { [setting]: publicKey } = readPemFiles({ [setting]: file });
    trustedKeys.push({ kid, issuer, publicKey });
  }
  return { service, trustedKeys };
}
