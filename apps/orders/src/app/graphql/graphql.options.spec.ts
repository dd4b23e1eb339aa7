import { OrdersEnv } from '../config/orders.env';
import { graphqlOptions } from './graphql.options';

describe('graphqlOptions', () => {
  const env = (NODE_ENV: OrdersEnv['NODE_ENV']) => Object.assign(new OrdersEnv(), { NODE_ENV });

  it('turns introspection off in production, and the landing page off everywhere', () => {
    expect(graphqlOptions(env('production'))).toMatchObject({
      introspection: false,
      playground: false,
      includeStacktraceInErrorResponses: false,
    });
    expect(graphqlOptions(env('development'))).toMatchObject({
      introspection: true,
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
});
