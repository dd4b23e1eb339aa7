import { readFileSync } from 'node:fs';

import { StartupError } from '@cloakroom/service-kit';

/**
 * Reads the PEM files that settings name (setting name → path). A file that cannot be read
 * stops the service with one line naming the setting and the path.
 *
 * @example
 * const { AUTH_RPC_CA } = readPemFiles({ AUTH_RPC_CA: env.AUTH_RPC_CA });
 */
export function readPemFiles<K extends string>(files: Record<K, string>): Record<K, string> {
  const read = {} as Record<K, string>;
  for (const setting of Object.keys(files) as K[]) {
    const path = files[setting];
    try {
      read[setting] = readFileSync(path, 'utf8');
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code ?? 'unreadable';
      throw new StartupError(
        `${setting}: cannot read ${path} (${code}); for development, ` +
          'tools/dev-ca/make-dev-certs.sh makes a CA and certificates in .data/certs',
        error,
      );
    }
  }
  return read;
}
