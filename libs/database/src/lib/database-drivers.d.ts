// The drivers ship no types; TypeORM types its `driver` option as `any` anyway.
declare module 'better-sqlite3';
declare module 'pg';
