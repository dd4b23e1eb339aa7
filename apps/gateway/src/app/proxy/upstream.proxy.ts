import { IncomingMessage, ServerResponse } from 'node:http';
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
 * those names, and `Forwarded`, is dropped.
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
  return createProxyMiddleware<ProxiedRequest, ServerResponse>({
    target: upstream.url,
    pathFilter: (path) => path === prefix || path.startsWith(`${prefix}/`),
    changeOrigin: true,
    xfwd: false,
    proxyTimeout: timeoutSeconds * 1000,
    on: {
      proxyReq: (proxyReq, req) => {
        for (const name of proxyReq.getHeaderNames()) {
          if (name === 'forwarded' || name === 'x-real-ip' || name.startsWith('x-forwarded-')) {
            proxyReq.removeHeader(name);
          }
        }
        proxyReq.setHeader('x-forwarded-for', req.socket.remoteAddress ?? '');
        for (const [name, value] of Object.entries(forwarded)) {
          proxyReq.setHeader(name, value);
        }
        if (req.bufferedBody?.length) {
          proxyReq.write(req.bufferedBody);
        }
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
