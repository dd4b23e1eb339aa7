import { BadRequestException, createParamDecorator, ExecutionContext } from '@nestjs/common';

/** The request header that names a retry-safe order placement. */
export const IDEMPOTENCY_KEY_HEADER = 'Idempotency-Key';

/** The response header of an order answered again for a key it was placed with. */
export const IDEMPOTENT_REPLAYED_HEADER = 'Idempotent-Replayed';

/** The longest key kept (the column's width). */
export const MAX_IDEMPOTENCY_KEY_LENGTH = 255;

/**
 * How long a key names its order: a retry within it is answered that order, a request after it
 * places a new one. Long enough for a client's retries across a day's outage, as Stripe keeps
 * its keys.
 */
export const IDEMPOTENCY_KEY_TTL_MS = 24 * 60 * 60 * 1000;

/** 1 to 255 visible ASCII characters: no spaces, no controls, nothing a log could misread. */
export const IDEMPOTENCY_KEY_PATTERN = /^[\x21-\x7e]{1,255}$/;

/** The draft's form (an RFC 8941 String): in double quotes, `\"` and `\\` escaped. */
const QUOTED = /^"((?:[\x20\x21\x23-\x5b\x5d-\x7e]|\\["\\])*)"$/;

/**
 * The key an `Idempotency-Key` header names, undefined without the header. Taken as sent
 * (Stripe's form) or as the IETF draft's quoted String (`"..."`, which a value opening with a
 * quote must be); either way the key is 1 to 255 visible ASCII characters. Anything else, an empty value or several headers (which Node joins with
 * `, `) included, is a 400: a key the client cannot have meant must not place an order
 * unprotected.
 */
export function parseIdempotencyKey(value: string | string[] | undefined): string | undefined {
  if (value === undefined) {
    return undefined;
  }
  const raw = Array.isArray(value) ? value.join(', ') : value;
  const quoted = raw.startsWith('"') ? QUOTED.exec(raw) : null;
  const key = quoted ? quoted[1].replace(/\\(["\\])/g, '$1') : raw;
  // A value that opens a quote is the draft's form or nothing: `"abc` names no key for sure.
  if ((raw.startsWith('"') && !quoted) || !IDEMPOTENCY_KEY_PATTERN.test(key)) {
    throw new BadRequestException(
      `${IDEMPOTENCY_KEY_HEADER} must be 1 to ${MAX_IDEMPOTENCY_KEY_LENGTH} visible ASCII characters`,
    );
  }
  return key;
}

/**
 * The request's `Idempotency-Key`, parsed by {@link parseIdempotencyKey}.
 *
 * @example
 * place(@IdempotencyKey() key: string | undefined) {}
 */
export const IdempotencyKey = createParamDecorator(
  (_data: unknown, context: ExecutionContext): string | undefined =>
    parseIdempotencyKey(
      context
        .switchToHttp()
        .getRequest<{ headers: Record<string, string | string[] | undefined> }>().headers[
        'idempotency-key'
      ],
    ),
);
