import { NestExpressApplication } from '@nestjs/platform-express';
import { WsAdapter } from '@nestjs/platform-ws';

import { ServiceDefinition } from '@cloakroom/service-kit';

/**
 * What makes orders a Cloakroom service, for `main.ts` and the in-process tests alike: its
 * name and plain RFC 6455 WebSockets (`ws`) for the `/api/orders/ws` gateway.
 */
export const ordersService: ServiceDefinition<NestExpressApplication> = {
  name: 'orders',
  configure: (app) => {
    app.useWebSocketAdapter(new WsAdapter(app));
  },
};
