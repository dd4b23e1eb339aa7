import { Logger } from '@nestjs/common';
import { GraphQLError, GraphQLFormattedError } from 'graphql';

import { OrdersEnv } from '../config/orders.env';
import { graphqlOptions } from './graphql.options';

describe('graphqlOptions', () => {
  const env = (NODE_ENV: OrdersEnv['NODE_ENV']) => Object.assign(new OrdersEnv(), { NODE_ENV });

  it('turns introspection and field suggestions off in production, the landing page everywhere', () => {
    expect(graphqlOptions(env('production'))).toMatchObject({
      introspection: false,
      hideSchemaDetailsFromClientErrors: true,
      playground: false,
      includeStacktraceInErrorResponses: false,
    });
    expect(graphqlOptions(env('development'))).toMatchObject({
      introspection: true,
      hideSchemaDetailsFromClientErrors: false,
      playground: false,
    });
  });

  it('serves /graphql under the global prefix, with CSRF prevention on', () => {
    expect(graphqlOptions(env('test'))).toMatchObject({
      path: '/graphql',
      useGlobalPrefix: true,
      csrfPrevention: true,
    });
  });

  describe('errors of a resolver', () => {
    const format = graphqlOptions(env('test')).formatError as (
      formatted: GraphQLFormattedError,
      error: unknown,
    ) => GraphQLFormattedError;
    const thrown = (cause: Error) => {
      const error = new GraphQLError(cause.message, { originalError: cause, path: ['myOrders'] });
      return format(
        {
          message: cause.message,
          path: ['myOrders'],
          extensions: { code: 'INTERNAL_SERVER_ERROR' },
        },
        error,
      );
    };
    let logged: jest.SpyInstance;
    beforeEach(() => {
      logged = jest.spyOn(Logger.prototype, 'error').mockImplementation(() => undefined);
    });
    afterEach(() => logged.mockRestore());

    it('answers a database outage as SERVICE_UNAVAILABLE, status 503, without logging a stack', () => {
      expect(thrown(new Error('Query read timeout'))).toEqual({
        message: 'Database unavailable',
        path: ['myOrders'],
        extensions: { code: 'SERVICE_UNAVAILABLE', status: 503, error: 'database_unavailable' },
      });
      expect(logged).not.toHaveBeenCalled();
    });

    it('masks anything else as Internal server error, and logs it', () => {
      expect(thrown(new Error('secret detail'))).toEqual({
        message: 'Internal server error',
        path: ['myOrders'],
        extensions: { code: 'INTERNAL_SERVER_ERROR' },
      });
      expect(logged).toHaveBeenCalledWith(expect.stringContaining('secret detail'));
    });
  });
});
