export { ServiceDatabaseModule, ServiceDatabaseOptions } from './lib/database.module';
export { DatabaseSchema, databaseOptions } from './lib/database.options';
export { openDataSource } from './lib/data-source.factory';
export { DATABASE_QUERY_TIMEOUT_MS, DeadlineClient } from './lib/deadline-client';
