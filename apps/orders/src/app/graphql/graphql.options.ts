import { IncomingMessage, ServerResponse } from 'node:http';
import { ApolloServerErrorCode, unwrapResolverError } from '@apollo/server/errors';
import { ApolloDriverConfig } from '@nestjs/apollo';
import { Logger } from '@nestjs/common';
import type { GraphQLFormattedError } from 'graphql';

import { isDatabaseUnavailable } from '@cloakroom/service-kit';

import { OrdersEnv } from '../config/orders.env';
import { MAX_PAGE_SIZE } from '../orders/dto/list-orders.query';
import { knownOperationTypes } from './known-operation-types.rule';
import { oneOrderPerRequest } from './one-order-per-request.rule';
import { maxQueryValues } from './query-cost.rule';

const logger = new Logger('GraphQL');

/** `extensions.code` of an error answered 503 over HTTP: retry later. */
export const SERVICE_UNAVAILABLE = 'SERVICE_UNAVAILABLE';

/**
 * The most values one operation may ask for (`maxQueryValues`): four aliased copies of the
 * largest page, `myOrders(limit: 200) { id createdAt items { sku quantity } }` (20,601 values
 * each), fit; five do not, nor do twenty aliases of the default page (5,151 each).
 */
export const MAX_QUERY_VALUES = 100_000;

/**
 * The most root fields one mutation may hold (`maxQueryValues`): each runs, so 300 aliased
 * `placeOrder`s would place 300 orders in one request. A client places one order at a time.
 */
export const MAX_MUTATION_FIELDS = 10;

/**
 * The most root fields one query may hold (`maxQueryValues`): each runs `myOrders`, a database
 * query of its own. Within the values and the tokens, 160 aliased `myOrders { id }` made one
 * request cost 160 queries, and eight such requests at a time held every other request of the
 * service for seconds. The four aliased pages the values allow fit.
 */
export const MAX_QUERY_FIELDS = 10;

/**
 * The most lexical tokens an operation's text may hold; a longer one is refused while it is
 * parsed (`GRAPHQL_PARSE_FAILED`, HTTP 400), session or not. graphql-js's own rule that fields
 * of one name can merge compares them pairwise: a 90 KB body repeating `myOrders { id }` cost
 * it about a second of CPU before answering 400, and four such requests at a time held every
 * other request of the service for seconds. A thousand tokens hold any order a client places
 * inline (50 items, 8 tokens each) and the largest query the cost rule lets through (four
 * aliased pages of 200).
 */
export const MAX_QUERY_TOKENS = 1_000;

/**
 * `POST /api/orders/graphql` (Apollo on Express, code first, schema built in memory). The
 * resolver context keeps the HTTP request, which `SessionGuard` reads the session from.
 *
 * - No landing page in any environment: Apollo's loads scripts from its CDN, which the
 *   service's CSP (`script-src 'self'`) refuses anyway; introspection, and field suggestions in
 *   errors, outside production only.
 * - POST only: `GET /api/orders/graphql` is taken by the REST route `GET /api/orders/:id`
 *   (registered first; 404, or 401 without a session), and paths below it are refused
 *   (`ordersService`), so GraphQL over GET never runs anything. Apollo's CSRF prevention stays on: a POST that is not JSON (a plain form) is
 *   refused before any resolver runs.
 * - No automatic persisted queries, no batching (Apollo's default).
 * - An operation of more than `MAX_QUERY_TOKENS` tokens is refused before it is validated.
 * - An operation of a type the schema lacks (`subscription`) is refused before it runs.
 * - A mutation naming `placeOrder` more than once is refused before it runs
 *   (`oneOrderPerRequest`): the session is checked once per operation, not per field.
 * - An operation that could answer more than `MAX_QUERY_VALUES` values (aliases multiply a
 *   list's rows), or a mutation with more than `MAX_MUTATION_FIELDS` root fields, or a query
 *   with more than `MAX_QUERY_FIELDS`, is refused before it runs, session or not:
 *   `GRAPHQL_VALIDATION_FAILED`, HTTP 400.
 * - Errors carry `extensions.code` (`UNAUTHENTICATED`, `FORBIDDEN`, `BAD_REQUEST` from the
 *   guard and the validation pipe, `SERVICE_UNAVAILABLE` with `status: 503` while the session
 *   store or the database is down), never a stack; an unexpected error is logged and answered as
 *   `Internal server error`, as the REST routes do.
 */
export function graphqlOptions(env: OrdersEnv): ApolloDriverConfig {
  const production = env.NODE_ENV === 'production';
  return {
    path: '/graphql',
    useGlobalPrefix: true,
    autoSchemaFile: true,
    sortSchema: true,
    playground: false,
    introspection: !production,
    // Without introspection, no "Did you mean ...?" in validation errors either.
    hideSchemaDetailsFromClientErrors: production,
    csrfPrevention: true,
    // No automatic persisted queries: nothing uses them, and their cache takes any query.
    persistedQueries: false,
    parseOptions: { maxLexicalTokens: MAX_QUERY_TOKENS },
    validationRules: [
      knownOperationTypes,
      oneOrderPerRequest,
      maxQueryValues({
        maxValues: MAX_QUERY_VALUES,
        maxPageSize: MAX_PAGE_SIZE,
        maxMutationFields: MAX_MUTATION_FIELDS,
        maxQueryFields: MAX_QUERY_FIELDS,
      }),
    ],
    includeStacktraceInErrorResponses: false,
    context: ({ req, res }: { req: IncomingMessage; res: ServerResponse }) => ({ req, res }),
    formatError: maskUnexpected,
  };
}

function maskUnexpected(formatted: GraphQLFormattedError, error: unknown): GraphQLFormattedError {
  const extensions = formatted.extensions ?? {};
  // Nest's driver names only 400, 401 and 403: an outage (the session store down) is not a bug.
  if (extensions['status'] === 503) {
    return { ...formatted, extensions: { ...extensions, code: SERVICE_UNAVAILABLE } };
  }
  // Request-level errors (no path) are Apollo's own answers to a malformed request.
  if (
    extensions['code'] !== ApolloServerErrorCode.INTERNAL_SERVER_ERROR ||
    'status' in extensions ||
    !formatted.path
  ) {
    return formatted;
  }
  const cause = unwrapResolverError(error);
  // The database down or not answering: an outage too, as the REST routes answer it.
  if (isDatabaseUnavailable(cause)) {
    return {
      message: 'Database unavailable',
      locations: formatted.locations,
      path: formatted.path,
      extensions: { code: SERVICE_UNAVAILABLE, status: 503, error: 'database_unavailable' },
    };
  }
  logger.error(cause instanceof Error ? cause.stack : String(cause));
  return {
    message: 'Internal server error',
    locations: formatted.locations,
    path: formatted.path,
    extensions: { code: ApolloServerErrorCode.INTERNAL_SERVER_ERROR },
  };
}
