import { NestExpressApplication } from '@nestjs/platform-express';
import type { NextFunction, Request, Response } from 'express';

import { ServiceDefinition } from '@cloakroom/service-kit';

import { FlowControlledWsAdapter } from './orders/live/flow-controlled-ws.adapter';

/** Where Apollo answers (`graphqlOptions`: `/graphql` under the global prefix). */
const GRAPHQL_PATH = '/api/orders/graphql';

/**
 * What makes orders a Cloakroom service, for `main.ts` and the in-process tests alike: its
 * name and plain RFC 6455 WebSockets (`ws`) for the `/api/orders/ws` gateway, at most 4
 * messages of a socket in hand and 1 MiB of its answers unread (`FlowControlledWsAdapter`).
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
    app.useWebSocketAdapter(
      new FlowControlledWsAdapter(app, { maxInFlight: 4, maxUnreadBytes: 1024 * 1024 }),
    );
  },
};
