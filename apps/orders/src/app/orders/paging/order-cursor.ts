import { keysetCursor } from '@cloakroom/service-kit';

/** A position in the newest-first list: the last order of a page, by its sort key. */
export interface OrderPosition {
  createdAt: Date;
  id: string;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const ISO_MS = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

/**
 * The opaque `cursor` of `GET /api/orders`: the keyset (createdAt, id) of the last order a
 * page showed. The owner filter applies whatever it holds.
 *
 * @example
 * const next = orderCursor.encode(page[page.length - 1]);
 * orderCursor.decode(next); // { createdAt, id }
 */
export const orderCursor = keysetCursor<OrderPosition>({
  maxLength: 128,
  fields: 2,
  write: ({ createdAt, id }) => [createdAt.toISOString(), id],
  read: ([at, id]) => {
    if (typeof at !== 'string' || !ISO_MS.test(at) || typeof id !== 'string' || !UUID.test(id)) {
      return undefined;
    }
    // The pattern lets through dates that do not exist: Date refuses some (month 13) and moves
    // others on (February 31st to March 3rd), which then read back as another date.
    const createdAt = new Date(at);
    if (Number.isNaN(createdAt.getTime()) || createdAt.toISOString() !== at) {
      return undefined;
    }
    return { createdAt, id };
  },
});
