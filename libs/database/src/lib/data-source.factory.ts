import { DataSource, DataSourceOptions } from 'typeorm';

import { StartupError } from '@cloakroom/service-kit';

/**
 * Opens the data source once, without retries: a database that cannot be reached fails
 * start-up at once with a {@link StartupError} of one line saying where it was looked for
 * (never with the password) and why.
 *
 * @param hint appended in brackets, e.g. which setting to check.
 * @example
 * TypeOrmModule.forRootAsync({
 *   useFactory: () => databaseOptions(url, schema),
 *   dataSourceFactory: (options) => openDataSource(options as DataSourceOptions),
 * });
 */
export async function openDataSource(
  options: DataSourceOptions,
  hint?: string,
): Promise<DataSource> {
  try {
    return await new DataSource(options).initialize();
  } catch (error) {
    const reason = (error instanceof Error ? error.message : String(error)).split('\n')[0];
    const message = [describe(options), reason && `: ${reason}`, hint && ` (${hint})`];
    throw new StartupError(message.filter(Boolean).join(''), error);
  }
}

function describe(options: DataSourceOptions): string {
  if (options.type !== 'postgres') {
    return `cannot open the SQLite database ${String(options.database)}`;
  }
  const url = new URL(options.url ?? '');
  url.password = '';
  return `cannot reach PostgreSQL at ${url.toString()}`;
}
