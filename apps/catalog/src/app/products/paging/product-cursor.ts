import { keysetCursor } from '@cloakroom/service-kit';

/** The SKU rule of `SkuField`: a cursor names a SKU a product can have. */
const SKU = /^[A-Za-z0-9][A-Za-z0-9-]{0,31}$/;

/**
 * The opaque `cursor` of `GET /api/catalog/products`: the SKU of the last product a page
 * showed. The list is in SKU order and a SKU is unique and never changes, so a page after it
 * starts exactly past it.
 *
 * @example
 * const next = productCursor.encode(page[page.length - 1].sku);
 * productCursor.decode(next); // the sku
 */
export const productCursor = keysetCursor<string>({
  maxLength: 64,
  fields: 1,
  write: (sku) => [sku],
  read: ([sku]) => (typeof sku === 'string' && SKU.test(sku) ? sku : undefined),
});
