import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/** Files of one certificate and its key. */
export interface CertificateFiles {
  cert: string;
  key: string;
}

/** A CA, auth's server certificate and client certificates, as files in `dir`. */
export interface DevCertificates {
  dir: string;
  /** The CA's certificate file. */
  ca: string;
  /** Auth's server certificate (DNS `auth`, `localhost`, IP 127.0.0.1). */
  server: CertificateFiles;
  /** Client certificates by common name. */
  clients: Record<string, CertificateFiles>;
  /** Server certificates of other services, by name (DNS `<name>`, `localhost`, 127.0.0.1). */
  servers: Record<string, CertificateFiles>;
  /** PEM contents for `SessionModule`'s `remote.tls` (a `SessionRemoteTls`), for client `name`. */
  remoteTls(name: string): { ca: string; cert: string; key: string };
  /** PEM contents for `sessionRpcTransport`'s `tls`. */
  serverTls(): { ca: string; cert: string; key: string };
}

/**
 * Makes a throwaway CA and certificates for the session RPC's mutual TLS with the `openssl`
 * CLI (OpenSSL 3): what `tools/dev-ca/make-dev-certs.sh` makes for `npm start`, for tests.
 * Call it once per suite with a temp dir; a second call with another dir makes a CA that
 * the first does not trust (a forger's). `servers` names other services that serve mutual TLS
 * with the same CA (catalog's RPC); their files are `<name>-rpc.crt` / `.key`.
 *
 * @example
 * const certs = makeDevCertificates(mkdtempSync(join(tmpdir(), 'certs-')), ['catalog']);
 * SessionModule.forRoot({ remote: { host, port, tls: certs.remoteTls('catalog') } });
 */
export function makeDevCertificates(
  dir: string,
  clients: string[],
  servers: string[] = [],
): DevCertificates {
  mkdirSync(dir, { recursive: true });
  const ca = join(dir, 'ca.crt');
  const caKey = join(dir, 'ca.key');
  openssl([
    ...newKey(caKey, ca, 'Cloakroom test CA'),
    '-addext',
    'basicConstraints=critical,CA:TRUE',
    '-addext',
    'keyUsage=critical,keyCertSign,cRLSign',
  ]);
  const issue = (name: string, usage: string, san?: string): CertificateFiles => {
    const files = { cert: join(dir, `${name}.crt`), key: join(dir, `${name}.key`) };
    openssl([
      ...newKey(files.key, files.cert, name),
      ...['-CA', ca, '-CAkey', caKey],
      ...['-addext', 'basicConstraints=critical,CA:FALSE'],
      ...['-addext', `extendedKeyUsage=${usage}`],
      ...(san ? ['-addext', `subjectAltName=${san}`] : []),
    ]);
    return files;
  };
  const server = issue('auth', 'serverAuth', 'DNS:auth,DNS:localhost,IP:127.0.0.1');
  const issued = Object.fromEntries(clients.map((name) => [name, issue(name, 'clientAuth')]));
  const otherServers = Object.fromEntries(
    servers.map((name) => [
      name,
      issue(`${name}-rpc`, 'serverAuth', `DNS:${name},DNS:localhost,IP:127.0.0.1`),
    ]),
  );
  const pem = (file: string) => readFileSync(file, 'utf8');
  return {
    dir,
    ca,
    server,
    clients: issued,
    servers: otherServers,
    remoteTls: (name) => {
      const files = issued[name];
      if (!files) throw new Error(`no client certificate "${name}" in ${dir}`);
      return { ca: pem(ca), cert: pem(files.cert), key: pem(files.key) };
    },
    serverTls: () => ({ ca: pem(ca), cert: pem(server.cert), key: pem(server.key) }),
  };
}

function newKey(key: string, cert: string, commonName: string): string[] {
  return [
    ...['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'],
    ...['-days', '30', '-subj', `/CN=${commonName}`, '-keyout', key, '-out', cert],
  ];
}

function openssl(args: string[]): void {
  execFileSync('openssl', args, { stdio: ['ignore', 'ignore', 'pipe'] });
}
