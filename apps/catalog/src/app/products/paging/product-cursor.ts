import { BadRequestException } from '@nestjs/common';

/** Long enough for any cursor this service writes; longer is refused before decoding. */
const MAX_CURSOR_LENGTH = 64;
const BASE64URL = /^[A-Za-z0-9_-]+$/;
/** The SKU rule of `SkuField`: a cursor names a SKU a product can have. */
const SKU = /^[A-Za-z0-9][A-Za-z0-9-]{0,31}$/;

/**
 * The opaque `cursor` of `GET /api/catalog/products`: the SKU of the last product a page
 * showed, as base64url JSON. The list is in SKU order and a SKU is unique and never changes, so
 * a page after it starts exactly past it: products created while a client walks the pages never
 * shift it onto a product twice or past one it has not seen. Opaque to clients, not secret.
 *
 * @example
 * const next = encodeProductCursor(page[page.length - 1].sku);
 * decodeProductCursor(next); // the sku
 */
export function encodeProductCursor(sku: string): string {
  return Buffer.from(JSON.stringify([sku])).toString('base64url');
}

/** The SKU a cursor names; anything this service did not write is a 400. */
export function decodeProductCursor(cursor: string): string {
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
  if (!Array.isArray(parsed) || parsed.length !== 1) {
    throw invalid();
  }
  const [sku] = parsed as unknown[];
  if (typeof sku !== 'string' || !SKU.test(sku)) {
    throw invalid();
  }
  return sku;
}
