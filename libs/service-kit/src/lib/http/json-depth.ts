const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_ARRAY = 0x5b;
const CLOSE_ARRAY = 0x5d;
const OPEN_OBJECT = 0x7b;
const CLOSE_OBJECT = 0x7d;
const COMMA = 0x2c;

/** What makes a JSON text too large a shape to parse: its nesting, or the count of its values. */
export type JsonShapeExcess = 'depth' | 'values';

/**
 * Whether a JSON text nests arrays and objects deeper than `maxDepth`, or holds more than
 * `maxValues` values (the text itself, each array element and each object member's value, at
 * any depth), read from its raw bytes without parsing it: one pass, constant memory, stops at
 * the first level or value too many. Brackets and commas inside strings do not count.
 * Malformed text is left to the parser, which refuses it.
 *
 * @example
 * jsonShapeExcess(Buffer.from('{"items":[{"sku":"a"}]}'), 3, 4); // null: 3 levels, 4 values
 * jsonShapeExcess(Buffer.from('[[[[]]]]'), 3, 100); // 'depth'
 * jsonShapeExcess(Buffer.from('[{},{},{},{}]'), 3, 4); // 'values'
 */
export function jsonShapeExcess(
  json: Uint8Array,
  maxDepth: number,
  maxValues: number,
): JsonShapeExcess | null {
  let depth = 0;
  let values = 1;
  if (values > maxValues) {
    return 'values';
  }
  let inString = false;
  // Just after a `[` or `{`: the next byte that is not whitespace starts its first entry,
  // unless it closes the container.
  let opened = false;
  for (let index = 0; index < json.length; index++) {
    const byte = json[index];
    if (inString) {
      if (byte === BACKSLASH) {
        index++;
      } else if (byte === QUOTE) {
        inString = false;
      }
      continue;
    }
    if (opened && !isWhitespace(byte)) {
      opened = false;
      if (byte !== CLOSE_ARRAY && byte !== CLOSE_OBJECT && ++values > maxValues) {
        return 'values';
      }
    }
    if (byte === QUOTE) {
      inString = true;
    } else if (byte === OPEN_ARRAY || byte === OPEN_OBJECT) {
      if (++depth > maxDepth) {
        return 'depth';
      }
      opened = true;
    } else if (byte === CLOSE_ARRAY || byte === CLOSE_OBJECT) {
      depth--;
    } else if (byte === COMMA && ++values > maxValues) {
      return 'values';
    }
  }
  return null;
}

/**
 * Whether a JSON text nests arrays and objects deeper than `maxDepth` (see
 * {@link jsonShapeExcess}).
 *
 * @example
 * nestsDeeperThan(Buffer.from('{"items":[{"sku":"a"}]}'), 3); // false
 * nestsDeeperThan(Buffer.from('[[[[]]]]'), 3); // true
 */
export function nestsDeeperThan(json: Uint8Array, maxDepth: number): boolean {
  return jsonShapeExcess(json, maxDepth, Infinity) === 'depth';
}

/**
 * Whether a JSON text holds more than `maxValues` values (see {@link jsonShapeExcess}).
 *
 * @example
 * holdsMoreValuesThan(Buffer.from('{"items":[{"sku":"a"}]}'), 4); // false: 4 values
 * holdsMoreValuesThan(Buffer.from('[{},{},{},{}]'), 4); // true: 5 values
 */
export function holdsMoreValuesThan(json: Uint8Array, maxValues: number): boolean {
  return jsonShapeExcess(json, Infinity, maxValues) === 'values';
}

/** JSON's whitespace (RFC 8259 §2): space, tab, line feed, carriage return. */
function isWhitespace(byte: number): boolean {
  return byte === 0x20 || byte === 0x09 || byte === 0x0a || byte === 0x0d;
}
