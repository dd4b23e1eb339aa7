import {
  ArgumentMetadata,
  BadRequestException,
  ValidationPipe,
  ValidationPipeOptions,
} from '@nestjs/common';

/** One validation policy for every body: unknown fields are refused, not silently dropped. */
export const VALIDATION_OPTIONS: ValidationPipeOptions = {
  whitelist: true,
  forbidNonWhitelisted: true,
  transform: true,
};

/**
 * Names the whitelist lets through where any other unknown field is refused:
 * `__proto__`, `constructor` and `prototype`, which class-transformer skips without a word when
 * it builds a DTO, and every other name `Object.prototype` has (`hasOwnProperty`, `toString`,
 * `valueOf`…), which class-validator's lookup of known fields finds on every object.
 */
const SKIPPED_NAMES = new Set([...Object.getOwnPropertyNames(Object.prototype), 'prototype']);

/** Deeper than any body the parsers accept (`JSON_MAX_DEPTH`): not looked into. */
const MAX_DEPTH = 64;

/**
 * `ValidationPipe` with {@link VALIDATION_OPTIONS}, which also refuses a body, query or message
 * payload that has a field named `__proto__`, `constructor`, `prototype` or any other name of `Object.prototype`
 * at any depth, with the whitelist's own 400 (`property … should not exist`): JSON.parse and the
 * query parser make them ordinary fields, which the whitelist would let through.
 *
 * @example
 * app.useGlobalPipes(new StrictValidationPipe());
 */
export class StrictValidationPipe extends ValidationPipe {
  constructor() {
    super(VALIDATION_OPTIONS);
  }

  override async transform(
    value: unknown,
    metadata: ArgumentMetadata,
  ): ReturnType<ValidationPipe['transform']> {
    // Every argument the pipe validates, not only HTTP bodies and queries: a microservice
    // message's payload comes with a type of its transport's own (a number for `@Payload()`).
    if (this.toValidate(metadata)) {
      const skipped = skippedNameIn(value, 0);
      if (skipped) {
        throw new BadRequestException([`property ${skipped} should not exist`]);
      }
    }
    return super.transform(value, metadata);
  }
}

function skippedNameIn(value: unknown, depth: number): string | undefined {
  if (typeof value !== 'object' || value === null || depth > MAX_DEPTH) {
    return undefined;
  }
  const entries: Array<[string | null, unknown]> = Array.isArray(value)
    ? value.map((item) => [null, item])
    : Object.entries(value);
  for (const [name, child] of entries) {
    if (name !== null && SKIPPED_NAMES.has(name)) {
      return name;
    }
    const found = skippedNameIn(child, depth + 1);
    if (found) {
      return found;
    }
  }
  return undefined;
}
