import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import type { DevCertificates } from '../src/testing';

/** `openssl ca`'s time format, UTC to the second. */
function asn1Time(at: Date): string {
  return `${at.toISOString().replace(/[-:T]/g, '').slice(0, 14)}Z`;
}

/**
 * A client certificate for `name`, signed by `certificates`' CA, valid from `notBefore` to
 * `notAfter` to the second (`openssl req` counts in days only): PEM contents for a TLS client.
 *
 * @example
 * const tls = shortLivedClient(certificates, 'catalog', new Date(), new Date(Date.now() + 4000));
 */
export function shortLivedClient(
  certificates: DevCertificates,
  name: string,
  notBefore: Date,
  notAfter: Date,
): { ca: string; cert: string; key: string } {
  const dir = mkdtempSync(join(certificates.dir, `short-${name}-`));
  try {
    const file = (base: string) => join(dir, base);
    writeFileSync(file('index.txt'), '');
    writeFileSync(file('serial'), `${Date.now().toString(16).padStart(16, '0')}\n`);
    writeFileSync(
      file('ca.cnf'),
      [
        '[ca]',
        'default_ca = short',
        '[short]',
        `database = ${file('index.txt')}`,
        `new_certs_dir = ${dir}`,
        `serial = ${file('serial')}`,
        'default_md = sha256',
        'policy = any',
        'unique_subject = no',
        '[any]',
        'commonName = supplied',
        '[client]',
        'basicConstraints = critical,CA:FALSE',
        'extendedKeyUsage = clientAuth',
        '',
      ].join('\n'),
    );
    const openssl = (args: string[]) =>
      execFileSync('openssl', args, { stdio: ['ignore', 'ignore', 'pipe'] });
    openssl([
      ...['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'],
      ...['-subj', `/CN=${name}`, '-keyout', file('client.key'), '-out', file('client.csr')],
    ]);
    openssl([
      ...['ca', '-batch', '-notext', '-config', file('ca.cnf'), '-extensions', 'client'],
      ...['-cert', certificates.ca, '-keyfile', join(certificates.dir, 'ca.key')],
      ...['-startdate', asn1Time(notBefore), '-enddate', asn1Time(notAfter)],
      ...['-in', file('client.csr'), '-out', file('client.crt')],
    ]);
    return {
      ca: readFileSync(certificates.ca, 'utf8'),
      cert: readFileSync(file('client.crt'), 'utf8'),
      key: readFileSync(file('client.key'), 'utf8'),
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
