import { NestExpressApplication } from '@nestjs/platform-express';

import { ServiceDefinition } from '@cloakroom/service-kit';

import { GatewayEnv, upstreamsOf } from './config/gateway.env';
import { upstreamProxy } from './proxy/upstream.proxy';
import { serveWebPage } from './web/web.setup';

/**
 * The gateway's request path: the service proxies first (their bodies stream through
 * untouched: the app runs without a body parser), then the web page from `webRoot`, then the
 * gateway's own routes under `/api/gateway`.
 */
export function gatewayService(webRoot: string): ServiceDefinition<NestExpressApplication> {
  return {
    name: 'gateway',
    configure: (app) => {
      const env = app.get(GatewayEnv);
      app.disable('x-powered-by');
      for (const upstream of upstreamsOf(env)) {
        app.use(upstreamProxy(upstream, env.PROXY_TIMEOUT));
      }
      serveWebPage(app, webRoot);
    },
  };
}
