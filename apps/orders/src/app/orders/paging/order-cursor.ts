import { BadRequestException } from '@nestjs/common';

/** A position in the newest-first list: the last order of a page, by its sort key. */
export interface OrderCursor {
  createdAt: Date;
  id: string;
}

/** Long enough for any cursor this service writes; longer is refused before decoding. */
const MAX_CURSOR_LENGTH = 128;
const BASE64URL = /^[A-Za-z0-9_-]+$/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const ISO_MS = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

/**
 * The opaque `cursor` of `GET /api/orders`: the keyset (createdAt, id) of the last order a
 * page showed, as base64url JSON. Opaque to clients, not secret: it only says where to
 * resume, and the owner filter applies whatever it holds.
 *
 * @example
 * const next = encodeOrderCursor(page[page.length - 1]);
 * decodeOrderCursor(next); // { createdAt, id }
 */
export function encodeOrderCursor({ createdAt, id }: OrderCursor): string {
  return Buffer.from(JSON.stringify([createdAt.toISOString(), id])).toString('base64url');
}

/** The position a cursor names; anything this service did not write is a 400. */
export function decodeOrderCursor(cursor: string): OrderCursor {
  const invalid = () => new BadRequestException('cursor is not a cursor this service issued');
  if (cursor.length > MAX_CURSOR_LENGTH || !BASE64URL.test(cursor)) {
    throw invalid();
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    throw invalid();
  }
  if (!Array.isArray(parsed) || parsed.length !== 2) {
    throw invalid();
  }
  const [at, id] = parsed as unknown[];
  if (typeof at !== 'string' || !ISO_MS.test(at) || typeof id !== 'string' || !UUID.test(id)) {
    throw invalid();
  }
  const createdAt = new Date(at);
  if (Number.isNaN(createdAt.getTime()) || createdAt.toISOString() !== at) {
    throw invalid();
  }
  return { createdAt, id };
}
