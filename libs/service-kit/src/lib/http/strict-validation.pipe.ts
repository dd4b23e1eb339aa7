import {
  ArgumentMetadata,
  BadRequestException,
  ValidationPipe,
  ValidationPipeOptions,
} from '@nestjs/common';
import { getMetadataStorage } from 'class-validator';

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
      const skipped = unknownFieldOf(value, metadata.metatype) ?? skippedNameIn(value, 0);
      if (skipped) {
        throw new BadRequestException([`property ${skipped} should not exist`]);
      }
    }
    return super.transform(value, metadata);
  }
}

/** Each DTO class's field names, as the whitelist knows them (any validation decorator). */
const knownFields = new WeakMap<object, ReadonlySet<string>>();

/**
 * The first top-level field of `value` that `metatype`'s whitelist would refuse. Checked before
 * class-transformer copies the body: it walks every value it is given, known field or not, so a
 * 100 KiB unknown field holding 30,000 empty objects took a quarter of a second of the event
 * loop to be refused.
 */
function unknownFieldOf(
  value: unknown,
  metatype: ArgumentMetadata['metatype'],
): string | undefined {
  if (typeof value !== 'object' || value === null || Array.isArray(value) || !metatype) {
    return undefined;
  }
  let known = knownFields.get(metatype);
  if (!known) {
    const rules = getMetadataStorage().getTargetValidationMetadatas(metatype, '', false, false);
    known = new Set(rules.map((rule) => rule.propertyName));
    knownFields.set(metatype, known);
  }
  // A class without rules is left to the pipe, as it was.
  if (known.size === 0) {
    return undefined;
  }
  return Object.keys(value).find((name) => !known.has(name));
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
