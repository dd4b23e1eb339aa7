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
 * @example
 * bodyLimitOf('auth'); // 16384
 */
export function bodyLimitOf(service: string): number {
  return BODY_LIMITS[service] ?? DEFAULT_BODY_LIMIT;
}
