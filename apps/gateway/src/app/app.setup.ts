import { ConfigService } from '@nestjs/config';
import { HttpAdapterHost } from '@nestjs/core';
import { NestExpressApplication } from '@nestjs/platform-express';

import { HttpErrorFilter } from '@cloakroom/service-kit';

import { Env, upstreamsOf } from './config/env.schema';
import { upstreamProxy } from './proxy/upstream.proxy';
import { serveWebPage } from './web/web.setup';

/**
 * The gateway's request path: the service proxies first (their bodies stream through
 * untouched), then the web page, then the gateway's own routes under `/api/gateway`.
 */
export function configureGateway(
  app: NestExpressApplication,
  webRoot: string,
): NestExpressApplication {
  const config = app.get<ConfigService<Env, true>>(ConfigService);
  app.disable('x-powered-by');
  for (const upstream of upstreamsOf(config)) {
    app.use(upstreamProxy(upstream, config.get('PROXY_TIMEOUT')));
  }
  serveWebPage(app, webRoot);
  app.setGlobalPrefix('api');
  app.useGlobalFilters(new HttpErrorFilter(app.get(HttpAdapterHost)));
  app.enableShutdownHooks();
  return app;
}
