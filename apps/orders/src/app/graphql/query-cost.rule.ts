import {
  ASTVisitor,
  FieldNode,
  FragmentDefinitionNode,
  getNamedType,
  getNullableType,
  GraphQLError,
  GraphQLField,
  GraphQLObjectType,
  isListType,
  isObjectType,
  Kind,
  SelectionSetNode,
  ValidationContext,
  ValidationRule,
} from 'graphql';

/** How many items a list field without a `limit` argument is taken to hold. */
export const ASSUMED_LIST_SIZE = 50;

/** The selections one document may make the rule look at, unless `maxVisits` says otherwise. */
export const MAX_VISITS = 10_000;

/** Selection sets (fields or fragments) nested deeper than this cost too much, unfollowed. */
const MAX_DEPTH = 20;

/** What {@link maxQueryValues} allows one operation. */
export interface QueryCostLimits {
  /** The most values an answer may hold. */
  maxValues: number;
  /**
   * The largest page a `limit` argument can ask for, as the resolvers enforce it: a literal
   * limit counts clamped to `[1, maxPageSize]`, and a variable one as `maxPageSize`.
   */
  maxPageSize: number;
  /** The most root fields one mutation may hold, aliases and fragments included. */
  maxMutationFields: number;
  /**
   * The most root fields one query may hold, aliases and fragments included; unlimited (the
   * values bound it) unless set. Each root field runs its resolver, a database query of its own.
   */
  maxQueryFields?: number;
  /** The most selections the rule looks at in one document; past it, the document is refused. */
  maxVisits?: number;
}

/** What a selection set asks for: values in the answer, and fields at its own level. */
interface Cost {
  values: number;
  fields: number;
}

/**
 * A validation rule that refuses an operation whose answer could hold more than `maxValues`
 * values: each field counts once per item of every list above it. A list with a `limit`
 * argument holds that limit (clamped to what the resolver accepts, the most it accepts when the
 * limit is a variable, the schema's default when absent); any other list holds
 * {@link ASSUMED_LIST_SIZE} items. Aliases and fragments count as often as they appear, which
 * is what makes a few kilobytes of aliased query ask for a hundred megabytes of answer; a depth
 * or alias count alone would not bound that product.
 *
 * The rule runs before any guard, so its own work is bounded too: a fragment is priced once per
 * document (a spread repeated at every level of a fragment chain would otherwise be walked an
 * exponential number of times), a fragment cycle counts as too much, and a document that needs
 * more than `maxVisits` selections looked at is refused.
 *
 * Values do not bound writes: every root field of a mutation runs, so a mutation with more than
 * `maxMutationFields` of them (`a: placeOrder(...) b: placeOrder(...)`) is refused as well; nor
 * do they bound the resolvers a query runs, one per root field, which `maxQueryFields` does.
 *
 * @example
 * validationRules: [maxQueryValues({ maxValues: 25_000, maxPageSize: 200, maxMutationFields: 10 })]
 */
export function maxQueryValues(limits: QueryCostLimits): ValidationRule {
  const {
    maxValues,
    maxPageSize,
    maxMutationFields,
    maxQueryFields = Infinity,
    maxVisits = MAX_VISITS,
  } = limits;
  const tooMuch: Cost = { values: maxValues + 1, fields: maxValues + 1 };
  return (context: ValidationContext): ASTVisitor => {
    const fragments = new Map<string, FragmentDefinitionNode>();
    for (const definition of context.getDocument().definitions) {
      if (definition.kind === Kind.FRAGMENT_DEFINITION) {
        fragments.set(definition.name.value, definition);
      }
    }
    const schema = context.getSchema();
    // Keyed by fragment and the type it applies to, shared by the document's operations.
    const priced = new Map<string, Cost>();
    const pricing = new Set<string>();
    let visits = 0;
    return {
      OperationDefinition(operation) {
        const root = schema.getRootType(operation.operation);
        if (!root) return;
        const cost = costOf(root, operation.selectionSet, 0);
        if (cost.values > maxValues) {
          context.reportError(
            new GraphQLError(
              `The query asks for too much: more than ${maxValues} values (use a smaller limit, fewer aliases)`,
              { nodes: [operation], extensions: { code: 'QUERY_TOO_LARGE' } },
            ),
          );
        } else if (operation.operation === 'mutation' && cost.fields > maxMutationFields) {
          context.reportError(
            new GraphQLError(
              `The mutation does too much: more than ${maxMutationFields} fields (send separate requests)`,
              { nodes: [operation], extensions: { code: 'QUERY_TOO_LARGE' } },
            ),
          );
        } else if (operation.operation === 'query' && cost.fields > maxQueryFields) {
          context.reportError(
            new GraphQLError(
              `The query does too much: more than ${maxQueryFields} fields (send separate requests)`,
              { nodes: [operation], extensions: { code: 'QUERY_TOO_LARGE' } },
            ),
          );
        }
      },
    };

    /** The cost of `selections` on `type`; stops counting once past `maxValues`. */
    function costOf(type: GraphQLObjectType, selections: SelectionSetNode, depth: number): Cost {
      if (depth > MAX_DEPTH) return tooMuch;
      const cost: Cost = { values: 0, fields: 0 };
      for (const selection of selections.selections) {
        if (cost.values > maxValues || ++visits > maxVisits) return tooMuch;
        if (selection.kind === Kind.FIELD) {
          cost.values++;
          cost.fields++;
          const field = type.getFields()[selection.name.value];
          const child = field && getNamedType(field.type);
          if (!selection.selectionSet || !field || !isObjectType(child)) continue;
          const size = isListType(getNullableType(field.type)) ? listSize(field, selection) : 1;
          cost.values += size * costOf(child, selection.selectionSet, depth + 1).values;
        } else {
          const fragment =
            selection.kind === Kind.INLINE_FRAGMENT
              ? costOf(
                  targetOf(selection.typeCondition?.name.value, type),
                  selection.selectionSet,
                  depth + 1,
                )
              : fragmentCost(selection.name.value, type, depth + 1);
          cost.values += fragment.values;
          cost.fields += fragment.fields;
        }
      }
      return cost.values > maxValues ? tooMuch : cost;
    }

    /** The cost of the fragment `name` spread in `type`, priced on its first spread. */
    function fragmentCost(name: string, type: GraphQLObjectType, depth: number): Cost {
      const fragment = fragments.get(name);
      // An unknown fragment is KnownFragmentNamesRule's to report.
      if (!fragment) return { values: 0, fields: 0 };
      const target = targetOf(fragment.typeCondition.name.value, type);
      const key = `${name} on ${target.name}`;
      const known = priced.get(key);
      if (known) return known;
      // A cycle would be an endless answer (NoFragmentCyclesRule reports it, too).
      if (pricing.has(key)) return tooMuch;
      pricing.add(key);
      const cost = costOf(target, fragment.selectionSet, depth);
      pricing.delete(key);
      priced.set(key, cost);
      return cost;
    }

    function targetOf(condition: string | undefined, type: GraphQLObjectType): GraphQLObjectType {
      const named = condition && schema.getType(condition);
      return isObjectType(named) ? named : type;
    }

    /** The most items a list field answers, from its `limit` argument (see `QueryCostLimits`). */
    function listSize(field: GraphQLField<unknown, unknown>, node: FieldNode): number {
      const declared = field.args.find((argument) => argument.name === 'limit');
      if (!declared) return ASSUMED_LIST_SIZE;
      const given = node.arguments?.find((argument) => argument.name.value === 'limit');
      const size = !given
        ? declared.defaultValue
        : given.value.kind === Kind.INT
          ? Number(given.value.value)
          : maxPageSize;
      return typeof size === 'number' ? Math.min(Math.max(size, 1), maxPageSize) : maxPageSize;
    }
  };
}
