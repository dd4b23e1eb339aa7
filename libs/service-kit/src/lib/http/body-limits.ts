/**
 * Bytes of request body each service accepts. Declared once: a service's body parser and the
 * gateway in front of it read the same number, so the gateway refuses (413) what the service
 * would refuse, before anything is proxied.
 *
 * @example
 * const overAuth = Buffer.alloc(BODY_LIMITS['auth'] + 1, ' '); // the gateway answers 413 itself
 */
export const BODY_LIMITS: Readonly<Record<string, number>> = {
  // Login and password bodies are tiny.
  auth: 16 * 1024,
  orders: 100 * 1024,
  catalog: 100 * 1024,
};

/**
 * The limit of a service not listed in {@link BODY_LIMITS}: Express's own default.
 *
 * @example
 * bodyLimitOf('reports') === DEFAULT_BODY_LIMIT; // true
 */
export const DEFAULT_BODY_LIMIT = 100 * 1024;

/**
 * Arrays and objects a JSON body may nest. Every Cloakroom body is three levels deep at most;
 * thousands of levels overflow the stack of class-transformer and class-validator.
 *
 * @example
 * const deep = '['.repeat(JSON_MAX_DEPTH + 1) + ']'.repeat(JSON_MAX_DEPTH + 1); // a 400
 */
export const JSON_MAX_DEPTH = 32;

/**
 * Values a JSON body may hold: the body itself, each array element and each object member's
 * value, at any depth. The largest Cloakroom body, an order of 50 lines, holds about 150.
 * class-transformer copies every value of a body before validation refuses it, known field or
 * not: 5,300 empty objects in one field of a 16 KiB login body cost the validation pipe about
 * 13 ms of the event loop before its 400, 33,000 in a 100 KiB body 120 ms, 1,022 about 1 ms.
 *
 * @example
 * const many = `[${Array(JSON_MAX_VALUES).fill('0').join(',')}]`; // a 400: one value too many
 */
export const JSON_MAX_VALUES = 1024;

/**
 * @example
 * bodyLimitOf('auth'); // 16384
 */
export function bodyLimitOf(service: string): number {
  return BODY_LIMITS[service] ?? DEFAULT_BODY_LIMIT;
}
