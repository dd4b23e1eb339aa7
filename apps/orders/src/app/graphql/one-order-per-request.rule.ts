import {
  FragmentDefinitionNode,
  GraphQLError,
  Kind,
  SelectionSetNode,
  ValidationRule,
} from 'graphql';

/** The mutation field that places an order. */
const PLACE_ORDER = 'placeOrder';

/** `extensions.reason` of the refusal, next to Apollo's `GRAPHQL_VALIDATION_FAILED`. */
export const ONE_ORDER_PER_REQUEST = 'ONE_ORDER_PER_REQUEST';

/**
 * A validation rule that refuses a mutation naming `placeOrder` more than once, aliases,
 * fragments and inline fragments included (`@skip` and `@include` are not looked at: a document
 * that could place two orders is refused). The guard checks the session once per operation, not
 * per field, so each further `placeOrder` would run on that one check, after a revocation too,
 * and a retry could not tell which of them had run: one order per request, one answer per order.
 *
 * @example
 * validationRules: [oneOrderPerRequest]
 */
export const oneOrderPerRequest: ValidationRule = (context) => {
  const fragments = new Map<string, FragmentDefinitionNode>();
  for (const definition of context.getDocument().definitions) {
    if (definition.kind === Kind.FRAGMENT_DEFINITION) {
      fragments.set(definition.name.value, definition);
    }
  }
  // Counted once per fragment: a fragment spread at every level of a chain is not walked again.
  const counted = new Map<string, number>();

  function count(selections: SelectionSetNode, within: Set<string>): number {
    let found = 0;
    for (const selection of selections.selections) {
      if (selection.kind === Kind.FIELD) {
        found += selection.name.value === PLACE_ORDER ? 1 : 0;
      } else if (selection.kind === Kind.INLINE_FRAGMENT) {
        found += count(selection.selectionSet, within);
      } else {
        found += countFragment(selection.name.value, within);
      }
    }
    return found;
  }

  function countFragment(name: string, within: Set<string>): number {
    const known = counted.get(name);
    const fragment = fragments.get(name);
    // Unknown fragments and cycles are other rules' to report.
    if (known !== undefined || !fragment || within.has(name)) return known ?? 0;
    const found = count(fragment.selectionSet, new Set(within).add(name));
    counted.set(name, found);
    return found;
  }

  return {
    OperationDefinition(operation) {
      if (operation.operation === 'mutation' && count(operation.selectionSet, new Set()) > 1) {
        context.reportError(
          new GraphQLError(`A mutation may place one order: send one request per ${PLACE_ORDER}`, {
            nodes: [operation],
            extensions: { reason: ONE_ORDER_PER_REQUEST },
          }),
        );
      }
    },
  };
};
