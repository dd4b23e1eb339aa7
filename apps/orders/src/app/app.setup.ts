import { NestExpressApplication } from '@nestjs/platform-express';

import { ServiceDefinition } from '@cloakroom/service-kit';

import { FlowControlledWsAdapter } from './orders/live/flow-controlled-ws.adapter';

/**
 * What makes orders a Cloakroom service, for `main.ts` and the in-process tests alike: its
 * name and plain RFC 6455 WebSockets (`ws`) for the `/api/orders/ws` gateway, at most 4
 * messages of a socket in hand and 1 MiB of its answers unread (`FlowControlledWsAdapter`).
 */
export const ordersService: ServiceDefinition<NestExpressApplication> = {
  name: 'orders',
  configure: (app) => {
    app.useWebSocketAdapter(
      new FlowControlledWsAdapter(app, { maxInFlight: 4, maxUnreadBytes: 1024 * 1024 }),
    );
  },
};
