import { NestExpressApplication } from '@nestjs/platform-express';
import type { NextFunction, Request, Response } from 'express';

import { ServiceDefinition } from '@cloakroom/service-kit';

import { FlowControlledWsAdapter } from './orders/live/flow-controlled-ws.adapter';
import { LIVE_SOCKET_LIMITS } from './orders/live/orders.gateway';

/** Where Apollo answers (`graphqlOptions`: `/graphql` under the global prefix). */
const GRAPHQL_PATH = '/api/orders/graphql';

/** Each app's WebSocket adapter, for `stopping`. */
const adapters = new WeakMap<NestExpressApplication, FlowControlledWsAdapter>();

/**
 * What makes orders a Cloakroom service, for `main.ts` and the in-process tests alike: its
 * name and plain RFC 6455 WebSockets (`ws`) for the `/api/orders/ws` gateway, at most 4
 * messages of a socket in hand and 1 MiB of its answers unread (`FlowControlledWsAdapter`,
 * `LIVE_SOCKET_LIMITS`), closed with 1001 (going away) at a shutdown signal.
 */
export const ordersService: ServiceDefinition<NestExpressApplication> = {
  name: 'orders',
  configure: (app) => {
    // Express mounts Apollo on a prefix, which would answer GraphQL under any path below it
    // (`GET /api/orders/graphql/x?query=...`): only the path itself is the GraphQL endpoint.
    app.use(GRAPHQL_PATH, (req: Request, res: Response, next: NextFunction) => {
      if (req.path === '/') {
        next();
        return;
      }
      res.status(404).json({ statusCode: 404, message: 'Not Found' });
    });
    const adapter = new FlowControlledWsAdapter(app, LIVE_SOCKET_LIMITS);
    adapters.set(app, adapter);
    app.useWebSocketAdapter(adapter);
  },
  stopping: (app) => adapters.get(app)?.goAway(),
};
