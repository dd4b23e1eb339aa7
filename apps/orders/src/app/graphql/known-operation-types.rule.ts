import { GraphQLError, ValidationRule } from 'graphql';

/**
 * A validation rule that refuses an operation of a type the schema has no root type for (a
 * `subscription` here): graphql-js 16 validates it without a word and fails it only when it
 * executes, which Apollo answers as an `INTERNAL_SERVER_ERROR`. Refused here, it is a
 * `GRAPHQL_VALIDATION_FAILED`, HTTP 400, like any other operation the schema cannot run.
 *
 * @example
 * validationRules: [knownOperationTypes]
 */
export const knownOperationTypes: ValidationRule = (context) => ({
  OperationDefinition(operation) {
    if (!context.getSchema().getRootType(operation.operation)) {
      context.reportError(
        new GraphQLError(`This service has no ${operation.operation} operations`, {
          nodes: [operation],
        }),
      );
    }
  },
});
