import { IncomingMessage, ServerResponse } from 'node:http';
import { Socket } from 'node:net';
import { Logger } from '@nestjs/common';
import { createProxyMiddleware, RequestHandler } from 'http-proxy-middleware';

import { Upstream } from '../config/gateway.env';

/**
 * Forwards `/api/<name>` and everything below it, path unchanged, to the upstream service.
 * Bodies are streamed, never parsed here. Mounted at the root, not under the prefix, so
 * that Express does not strip the prefix from the path.
 */
export function upstreamProxy(upstream: Upstream, timeoutSeconds: number): RequestHandler {
  const logger = new Logger(`Proxy ${upstream.name}`);
  const prefix = `/api/${upstream.name}`;
  return createProxyMiddleware<IncomingMessage, ServerResponse>({
    target: upstream.url,
    pathFilter: (path) => path === prefix || path.startsWith(`${prefix}/`),
    xfwd: true,
    proxyTimeout: timeoutSeconds * 1000,
    on: {
      proxyReq: (proxyReq, req) => {
        // The gateway is the edge: a client cannot choose the address the services see.
        proxyReq.setHeader('x-forwarded-for', req.socket.remoteAddress ?? '');
      },
      error: (error, _req, res) => {
        const code = (error as NodeJS.ErrnoException).code;
        logger.warn(`${upstream.url} did not answer: ${code ?? error.message}`);
        if (res instanceof Socket) {
          res.destroy();
          return;
        }
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
