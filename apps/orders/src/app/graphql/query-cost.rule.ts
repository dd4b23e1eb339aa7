import {
  ASTVisitor,
  FragmentDefinitionNode,
  getNamedType,
  getNullableType,
  GraphQLError,
  GraphQLObjectType,
  isListType,
  isObjectType,
  Kind,
  SelectionSetNode,
  ValidationContext,
  ValidationRule,
} from 'graphql';

/** How many items a list field is taken to hold when its `limit` argument is not a literal. */
export const ASSUMED_LIST_SIZE = 50;

/** Fragments nested deeper than this are not followed (and cost the limit). */
const MAX_DEPTH = 20;

/**
 * A validation rule that refuses an operation whose answer could hold more than `maxValues`
 * values: each field counts once per item of every list above it, a list holding its literal
 * `limit` argument or {@link ASSUMED_LIST_SIZE} items. Aliases and fragments count as often as
 * they appear, which is what makes a few kilobytes of aliased query ask for a hundred megabytes
 * of answer; a depth or alias count alone would not bound that product.
 *
 * @example
 * validationRules: [maxQueryValues(25_000)]
 */
export function maxQueryValues(maxValues: number): ValidationRule {
  return (context: ValidationContext): ASTVisitor => {
    const fragments = new Map<string, FragmentDefinitionNode>();
    for (const definition of context.getDocument().definitions) {
      if (definition.kind === Kind.FRAGMENT_DEFINITION) {
        fragments.set(definition.name.value, definition);
      }
    }
    const schema = context.getSchema();
    return {
      OperationDefinition(operation) {
        const root = schema.getRootType(operation.operation);
        if (!root) return;
        const values = valuesOf(root, operation.selectionSet, 1, 0);
        if (values > maxValues) {
          context.reportError(
            new GraphQLError(
              `The query asks for too much: more than ${maxValues} values (use a smaller limit, fewer aliases)`,
              { nodes: [operation], extensions: { code: 'QUERY_TOO_LARGE' } },
            ),
          );
        }
      },
    };

    /** The values `selections` asks for, `times` over; stops counting past the limit. */
    function valuesOf(
      type: GraphQLObjectType,
      selections: SelectionSetNode,
      times: number,
      depth: number,
    ): number {
      if (depth > MAX_DEPTH) return maxValues + 1;
      let total = 0;
      for (const selection of selections.selections) {
        if (total > maxValues) break;
        if (selection.kind === Kind.FIELD) {
          total += times;
          const field = type.getFields()[selection.name.value];
          const child = field && getNamedType(field.type);
          if (!selection.selectionSet || !field || !isObjectType(child)) continue;
          const list = isListType(getNullableType(field.type));
          const limit = selection.arguments?.find((argument) => argument.name.value === 'limit');
          const size =
            limit?.value.kind === Kind.INT ? Number(limit.value.value) : ASSUMED_LIST_SIZE;
          total += valuesOf(child, selection.selectionSet, list ? times * size : times, depth + 1);
        } else {
          const fragment =
            selection.kind === Kind.INLINE_FRAGMENT
              ? selection
              : fragments.get(selection.name.value);
          if (!fragment) continue;
          const condition =
            fragment.typeCondition && schema.getType(fragment.typeCondition.name.value);
          const target = isObjectType(condition) ? condition : type;
          total += valuesOf(target, fragment.selectionSet, times, depth + 1);
        }
      }
      return total;
    }
  };
}
