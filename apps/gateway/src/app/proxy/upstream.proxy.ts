import { ClientRequest, IncomingMessage, Server, ServerResponse } from 'node:http';
import { Socket } from 'node:net';
import { Logger } from '@nestjs/common';
import { createProxyMiddleware, RequestHandler } from 'http-proxy-middleware';

import { Upstream } from '../config/gateway.env';
import { BufferedRequest } from './request-body.buffer';

/** A proxied request, with the service's answer once it has started to arrive. */
interface ProxiedRequest extends BufferedRequest {
  upstreamResponse?: IncomingMessage;
}

/**
 * Forwards `/api/<name>` and everything below it, path unchanged, to the upstream service.
 * Bodies arrive read in full by `bufferRequestBody`, never parsed here. Mounted at the root,
 * not under the prefix, so that Express does not strip the prefix from the path.
 *
 * The gateway is the edge: `Host` and every `X-Forwarded-*` header the service sees are the
 * gateway's (`publicUrl` and the client's socket address); whatever the client sent under
 * those names, and `Forwarded`, is dropped. The same holds for WebSocket upgrades, which
 * {@link proxyUpgrades} hands to the proxy's `upgrade`; their `Origin` and cookies go through
 * unchanged, for the service's handshake check.
 */
export function upstreamProxy(
  upstream: Upstream,
  publicUrl: URL,
  timeoutSeconds: number,
): RequestHandler {
  const logger = new Logger(`Proxy ${upstream.name}`);
  const prefix = `/api/${upstream.name}`;
  const forwarded = {
    'x-forwarded-host': publicUrl.host,
    'x-forwarded-proto': publicUrl.protocol.slice(0, -1),
    'x-forwarded-port': publicUrl.port || (publicUrl.protocol === 'https:' ? '443' : '80'),
  };
  const setEdgeHeaders = (proxyReq: ClientRequest, req: IncomingMessage) => {
    for (const name of proxyReq.getHeaderNames()) {
      if (name === 'forwarded' || name === 'x-real-ip' || name.startsWith('x-forwarded-')) {
        proxyReq.removeHeader(name);
      }
    }
    proxyReq.setHeader('x-forwarded-for', req.socket.remoteAddress ?? '');
    for (const [name, value] of Object.entries(forwarded)) {
      proxyReq.setHeader(name, value);
    }
  };
  return createProxyMiddleware<ProxiedRequest, ServerResponse>({
    target: upstream.url,
    pathFilter: (path) => isProxiedPath(path, prefix),
    changeOrigin: true,
    xfwd: false,
    proxyTimeout: timeoutSeconds * 1000,
    on: {
      proxyReq: (proxyReq, req) => {
        setEdgeHeaders(proxyReq, req);
        if (req.bufferedBody?.length) {
          proxyReq.write(req.bufferedBody);
        }
      },
      proxyReqWs: (proxyReq, req) => {
        setEdgeHeaders(proxyReq, req);
        // The proxy's timeout covers requests only: a service that takes the connection and
        // never answers the handshake would hold the client's socket for ever.
        const timer = setTimeout(
          () =>
            proxyReq.destroy(Object.assign(new Error('handshake timeout'), { code: 'ETIMEDOUT' })),
          timeoutSeconds * 1000,
        );
        const settle = () => clearTimeout(timer);
        proxyReq.once('upgrade', settle).once('response', settle).once('close', settle);
      },
      proxyRes: (proxyRes, req) => {
        req.upstreamResponse = proxyRes;
        delete proxyRes.headers['x-powered-by'];
      },
      error: (error, req, res) => {
        const code = (error as NodeJS.ErrnoException).code;
        if (res instanceof Socket) {
          res.destroy();
          return;
        }
        // The service answered in full, then closed while the gateway was still writing:
        // its answer stands and is already on its way to the client.
        if (req.upstreamResponse?.complete) {
          return;
        }
        logger.warn(`${upstream.url} did not answer: ${code ?? error.message}`);
        if (!res.headersSent) {
          const statusCode = code === 'ECONNRESET' || code === 'ETIMEDOUT' ? 504 : 502;
          res.writeHead(statusCode, { 'content-type': 'application/json; charset=utf-8' });
          res.end(
            JSON.stringify({ statusCode, message: `The ${upstream.name} service is unavailable` }),
          );
          return;
        }
        res.destroy();
      },
    },
  });
}

/** A service's path prefix and its proxy, for {@link proxyUpgrades}. */
export interface UpgradeRoute {
  prefix: string;
  proxy: RequestHandler;
}

/**
 * Proxies WebSocket upgrades (`GET /api/orders/ws`) to the service whose prefix the path is
 * under, through that service's proxy (same headers as its requests); any other upgrade is
 * answered 404 and its socket closed, so that none is left hanging.
 *
 * @example
 * proxyUpgrades(app.getHttpServer(), [{ prefix: '/api/orders', proxy }]);
 */
export function proxyUpgrades(server: Server, routes: UpgradeRoute[]): void {
  server.on('upgrade', (req: IncomingMessage, socket: Socket, head: Buffer) => {
    const url = req.url ?? '';
    const path = url.split('?')[0];
    // The proxy's own filter: an upgrade it would not take must not reach it, for it would
    // neither answer nor close it.
    const route = isCanonicalPath(url) && routes.find(({ prefix }) => isProxiedPath(path, prefix));
    if (!route) {
      socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
      return;
    }
    route.proxy.upgrade(req, socket, head);
  });
}

/**
 * Whether a request target's path is the one the gateway forwards as it is: no backslash, no
 * empty or dot segment, no percent-encoded slash, backslash or dot. The proxy would turn `\`
 * into `/` and collapse `//` on the way, so a path like `/api/auth//metrics` would be checked
 * as one thing and forwarded as another; such paths are refused at the edge instead.
 */
export function isCanonicalPath(url: string): boolean {
  const path = url.split('?')[0];
  return !/\\|\/\/|%2f|%5c|%2e|\/\.\.?(?:\/|$)/i.test(path);
}

/**
 * Middleware that answers a JSON 404 to a request whose path is not canonical
 * ({@link isCanonicalPath}), before any route, body limit or proxy sees it.
 *
 * @example
 * app.use(refuseNonCanonicalPaths);
 */
export function refuseNonCanonicalPaths(
  req: IncomingMessage,
  res: ServerResponse,
  next: () => void,
): void {
  if (isCanonicalPath(req.url ?? '')) {
    next();
    return;
  }
  res.writeHead(404, { 'content-type': 'application/json; charset=utf-8' });
  res.end(JSON.stringify({ statusCode: 404, message: 'Not Found' }));
}

/** Whether the proxy of the service under `prefix` forwards this path: never its metrics. */
function isProxiedPath(path: string, prefix: string): boolean {
  return (path === prefix || path.startsWith(`${prefix}/`)) && !isMetricsPath(path, prefix);
}

/**
 * A service's `metrics` route, which stays on the service network: the path as a router could
 * match it (any case, percent-encoded, trailing slashes, a query).
 */
function isMetricsPath(path: string, prefix: string): boolean {
  let route = path.split('?')[0];
  try {
    route = decodeURIComponent(route);
  } catch {
    // Not decodable: no router matches it to `metrics` either.
  }
  return route.toLowerCase().replace(/\/+$/, '') === `${prefix}/metrics`;
}
