/**
 * A session attribute name the library refuses to store: one that means something to every
 * JavaScript object (`__proto__`, `constructor`, `prototype`). Assigned to a plain object,
 * `__proto__` replaces its prototype: an attribute of that name, from a parsed body say, would
 * give every reader properties nobody stored. Any other string is a name (NUL bytes included).
 * A programming error, thrown before anything is written.
 *
 * @example
 * await sessions.patch(token, JSON.parse('{"__proto__": {"admin": true}}')); // throws
 */
export class SessionAttributeNameError extends TypeError {
  constructor(readonly attribute: string) {
    super(`Refused session attribute name ${JSON.stringify(attribute)}`);
    this.name = 'SessionAttributeNameError';
  }
}
