import { NestExpressApplication } from '@nestjs/platform-express';

import { bodyLimitOf, ServiceDefinition } from '@cloakroom/service-kit';

import {
  allowedHostsOf,
  bodyMemoryOf,
  GatewayEnv,
  publicUrlOf,
  upstreamsOf,
} from './config/gateway.env';
import { GATEWAY_HEALTH_PATH } from './health/health.controller';
import { BodyMemory } from './proxy/body-memory';
import { bufferRequestBody } from './proxy/request-body.buffer';
import {
  proxyUpgrades,
  refuseNonCanonicalPaths,
  UpgradeRoute,
  upstreamProxy,
} from './proxy/upstream.proxy';
import { AllowedHosts, refuseUnknownHosts, serveAbsoluteForm } from './security/allowed-hosts';
import { limitConnectionsPerClient } from './security/client-connections';
import { refuseConnectRequests } from './security/connect-requests';
import { refuseCrossSiteWrites } from './security/cross-site-writes';
import { refuseTooManyHeaderLines } from './security/header-count';
import { serveRequestsInTurn } from './security/pipelined-requests';
import { securityHeaders } from './security/security-headers';
import { TrustedProxies } from './security/trusted-proxies';
import { serveWebPage } from './web/web.setup';

/**
 * The gateway's request path: at most `CONNECTIONS_PER_CLIENT` connections of one client
 * network (a `GATEWAY_TRUST_PROXY` proxy's exempt), security headers and `no-store` (the common
 * service setup), one request of a connection at a time (`serveRequestsInTurn`), a 431 for
 * more than `MAX_HEADER_LINES` header lines (fewer than Node shows the app), a 421 for a host
 * that is not the gateway's (`AllowedHosts`: against DNS rebinding; WebSocket handshakes too)
 * except on the gateway's health, which tells such a host up or down alone (a probe by
 * address), a 404 for any path that is not canonical (`isCanonicalPath`), a 403 for an unsafe
 * request another site's page sent (`refuseCrossSiteWrites`), then for each service its body
 * limit and its proxy (bodies are read whole but never parsed: the app runs without a body
 * parser; all services' bodies share one `BodyMemory`), then the web page from `webRoot`, then
 * the gateway's own routes under `/api/gateway`. An absolute-form target naming a host of the
 * gateway's is served as its origin form (`serveAbsoluteForm`); a `CONNECT` is a 405
 * (`refuseConnectRequests`). The client that bodies are counted for and that the services are
 * told of (`X-Forwarded-For`) is the one `TrustedProxies` finds.
 */
export function gatewayService(webRoot: string): ServiceDefinition<NestExpressApplication> {
  return {
    name: 'gateway',
    parseBodies: false,
    securityHeaders: (app) => securityHeaders(publicUrlOf(app.get(GatewayEnv))),
    configure: (app) => {
      const env = app.get(GatewayEnv);
      const publicUrl = publicUrlOf(env);
      const upgrades: UpgradeRoute[] = [];
      const memory = new BodyMemory(bodyMemoryOf(env));
      const proxies = new TrustedProxies(env.GATEWAY_TRUST_PROXY);
      const hosts = new AllowedHosts(allowedHostsOf(env));
      limitConnectionsPerClient(app.getHttpServer(), env.CONNECTIONS_PER_CLIENT, proxies);
      serveAbsoluteForm(app.getHttpServer(), hosts);
      app.use(serveRequestsInTurn);
      // What the gateway routes and limits on must be what it forwards: every header line
      // (a body framed past those Node shows the app would reach a service as a request of
      // its own), and the path.
      app.use(refuseTooManyHeaderLines);
      app.use(refuseUnknownHosts(hosts, [GATEWAY_HEALTH_PATH]));
      app.use(refuseNonCanonicalPaths);
      app.use(refuseCrossSiteWrites);
      for (const upstream of upstreamsOf(env)) {
        const proxy = upstreamProxy(upstream, publicUrl, env.PROXY_TIMEOUT, proxies);
        app.use(
          `/api/${upstream.name}`,
          bufferRequestBody(bodyLimitOf(upstream.name), memory, proxies),
        );
        app.use(proxy);
        upgrades.push({ prefix: `/api/${upstream.name}`, proxy });
        app.getHttpServer().once('close', proxy.close);
      }
      proxyUpgrades(app.getHttpServer(), upgrades, hosts);
      refuseConnectRequests(app.getHttpServer());
      serveWebPage(app, webRoot);
    },
  };
}
