import type { IncomingMessage } from 'node:http';
import { BadRequestException } from '@nestjs/common';

const BASE64URL = /^[A-Za-z0-9_-]+$/;

/** How a list's position (the sort key of the last item a page showed) is written in a cursor. */
export interface KeysetCursorOptions<Position> {
  /** Long enough for any cursor the service writes; longer is refused before decoding. */
  maxLength: number;
  /** How many fields a cursor holds: any other number is not one the service wrote. */
  fields: number;
  /** The fields of `position`, as JSON values. */
  write(position: Position): unknown[];
  /** The position `fields` name, or undefined when they are not ones the service writes. */
  read(fields: unknown[]): Position | undefined;
}

/** Writes a position as an opaque cursor and reads it back (see {@link keysetCursor}). */
export interface KeysetCursor<Position> {
  encode(position: Position): string;
  /** The position a cursor names; anything the service did not write is a 400. */
  decode(cursor: string): Position;
}

/**
 * The opaque `cursor` of a list paged by keyset: the sort key of the last item a page showed,
 * as a base64url JSON array, so a page after it starts exactly past it and items added while a
 * client walks the pages never shift it onto an item twice or past one it has not seen. Opaque
 * to clients, not secret: it only says where to resume, so whatever it holds passes `read`, which
 * accepts only what `write` could have written, before it reaches a query.
 *
 * @example
 * const skuCursor = keysetCursor<string>({
 *   maxLength: 64,
 *   fields: 1,
 *   write: (sku) => [sku],
 *   read: ([sku]) => (typeof sku === 'string' && SKU.test(sku) ? sku : undefined),
 * });
 * skuCursor.decode(skuCursor.encode('TEA')); // 'TEA'
 */
export function keysetCursor<Position>(
  options: KeysetCursorOptions<Position>,
): KeysetCursor<Position> {
  const { maxLength, fields, write, read } = options;
  const invalid = () => new BadRequestException('cursor is not a cursor this service issued');
  return {
    encode: (position) => Buffer.from(JSON.stringify(write(position))).toString('base64url'),
    decode: (cursor) => {
      if (cursor.length > maxLength || !BASE64URL.test(cursor)) {
        throw invalid();
      }
      let parsed: unknown;
      try {
        parsed = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
      } catch {
        throw invalid();
      }
      if (!Array.isArray(parsed) || parsed.length !== fields) {
        throw invalid();
      }
      const position = read(parsed);
      if (position === undefined) {
        throw invalid();
      }
      return position;
    },
  };
}

/**
 * The value of a `Link` header (RFC 8288) naming the next page of the list `request` asked
 * for: its path with `params` (in their order, undefined ones left out) as the query.
 *
 * @example
 * // GET /api/orders?limit=1
 * nextPageLink(request, { cursor: page.next, limit: query.limit });
 * // '</api/orders?cursor=WyIy...&limit=1>; rel="next"'
 */
export function nextPageLink(
  request: Pick<IncomingMessage, 'url'>,
  params: Record<string, string | number | undefined>,
): string {
  const query = new URLSearchParams();
  for (const [name, value] of Object.entries(params)) {
    if (value !== undefined) {
      query.set(name, String(value));
    }
  }
  // The path alone: an absolute-form target (`GET http://host/api/...`) names a host the Link
  // must not repeat.
  const { pathname: path } = new URL(request.url ?? '/', 'http://localhost');
  return `<${path}?${query}>; rel="next"`;
}
