import pg from 'pg';

/** PostgreSQL's `timestamp without time zone`, which TypeORM's date columns are. */
const TIMESTAMP_OID = 1114;

/** The text form PostgreSQL gives such a timestamp in (ISO DateStyle), AD dates only. */
const TIMESTAMP_TEXT = /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(\.\d{1,6})?$/;

/**
 * pg's type parsers, but for a `timestamp without time zone` read as UTC rather than in this
 * process's time zone (pg's default): with {@link writeDatesAsUtc} and the connection's own time
 * zone set to UTC, such a column holds UTC whatever zone the service or the database server
 * runs in. Read in local time, a zone with daylight saving changed the hour after each change
 * and put an order placed at 01:10 UTC before one placed at 00:30 on the last Sunday of October.
 */
export const UTC_TIMESTAMP_TYPES = {
  getTypeParser(oid: number, format?: 'text' | 'binary'): unknown {
    if (oid === TIMESTAMP_OID && format !== 'binary') {
      return parseUtcTimestamp;
    }
    return format ? pg.types.getTypeParser(oid, format) : pg.types.getTypeParser(oid);
  },
};

function parseUtcTimestamp(text: string): Date | string {
  if (!TIMESTAMP_TEXT.test(text)) {
    // `infinity`, BC dates: as pg has them.
    return (pg.types.getTypeParser(TIMESTAMP_OID) as (value: string) => Date | string)(text);
  }
  return new Date(`${text.replace(' ', 'T')}Z`);
}

/**
 * Makes pg write JavaScript dates as UTC. A setting of the pg module (it has no per-client
 * one); the services use pg only through this library, and only for these columns.
 */
export function writeDatesAsUtc(): void {
  pg.defaults.parseInputDatesAsUTC = true;
}
