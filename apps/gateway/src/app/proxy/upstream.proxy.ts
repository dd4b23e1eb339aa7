import { Agent, IncomingMessage, Server, ServerResponse } from 'node:http';
import { Agent as TlsAgent } from 'node:https';
import { Socket } from 'node:net';
import { Logger } from '@nestjs/common';
import { createProxyMiddleware, Options, RequestHandler } from 'http-proxy-middleware';

import { rawErrorAnswer } from '@cloakroom/service-kit';

import { Upstream } from '../config/gateway.env';
import { AllowedHosts, toOriginForm } from '../security/allowed-hosts';
import { hasTooManyHeaderLines, TOO_MANY_HEADER_LINES } from '../security/header-count';
import { owesAnswers, trackOwedAnswers } from '../security/pipelined-requests';
import { TrustedProxies } from '../security/trusted-proxies';
import { BufferedRequest } from './request-body.buffer';

/**
 * A proxied request, with the service's answer once it has started to arrive, and whether it
 * has been sent to the service a second time.
 */
interface ProxiedRequest extends BufferedRequest {
  upstreamResponse?: IncomingMessage;
  resent?: boolean;
}

/**
 * Methods that change nothing on the service (RFC 9110 §9.2.1), the only ones sent to it a
 * second time. PUT and DELETE are idempotent, but not so through these routes as a client sees
 * them: `DELETE /api/auth/sessions/:id` answers 404 the second time, when the first was applied
 * and only its answer was lost, and each `PUT` on a user records another security event.
 */
const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/**
 * Forwards `/api/<name>` and everything below it, path unchanged, to the upstream service.
 * Bodies arrive read in full by `bufferRequestBody`, never parsed here. Mounted at the root,
 * not under the prefix, so that Express does not strip the prefix from the path.
 *
 * The gateway is the edge: the service sees the headers {@link setEdgeHeaders} leaves, on
 * requests and on WebSocket upgrades alike ({@link proxyUpgrades} hands the latter to the
 * handler's `upgrade`). `Origin` and cookies go through unchanged, for the service's checks.
 *
 * When the service does not answer, the client gets a JSON 504 if it took longer than
 * `timeoutSeconds`, and a 502 otherwise: refused, reset or closed (as a restarting service
 * resets the connections it had not yet taken when it stops listening). A GET, HEAD or OPTIONS
 * the service reset or closed before any byte of its answer is sent once more first, on a new
 * connection. An answer the service breaks off halfway is cut off for the client too, who
 * would otherwise wait for the rest for ever.
 *
 * Requests reuse kept-alive connections to the service ({@link keptAliveAgent}); a request
 * sent again and a WebSocket upgrade each get a connection of their own; a request or a
 * handshake whose client leaves before its answer has ended is aborted, its connection to the
 * service closed rather than kept busy until the answer or the timeout. Whether the client's
 * connection stays open is the gateway's business: the service's `Connection` and
 * `Keep-Alive` are not passed on ({@link setClientConnection}).
 */
export function upstreamProxy(
  upstream: Upstream,
  publicUrl: URL,
  timeoutSeconds: number,
  proxies: TrustedProxies,
): RequestHandler & { close(): void } {
  const logger = new Logger(`Proxy ${upstream.name}`);
  const prefix = `/api/${upstream.name}`;
  // The service's path is set in the hooks below, the base URL's path and the target as routed:
  // http-proxy joins them with rewrites of its own (`http:/` becomes `http://`), which would
  // send `/api/auth/http:/metrics` on as `/api/auth/http://metrics`, a path never checked here.
  const basePath = new URL(upstream.url).pathname.replace(/\/+$/, '');
  const pathOf = (req: IncomingMessage) => `${basePath}${req.url ?? ''}`;
  const forwarded = {
    'x-forwarded-host': publicUrl.host,
    'x-forwarded-proto': publicUrl.protocol.slice(0, -1),
    'x-forwarded-port': publicUrl.port || (publicUrl.protocol === 'https:' ? '443' : '80'),
  };
  // The filter reads the request target itself, as `proxyUpgrades` does, rather than the
  // pathname the proxy hands it: an upgrade routed here but ignored by the proxy would be left
  // open, answered by no one.
  const isProxied = (req: IncomingMessage) => isProxiedPath(req.url ?? '', prefix);
  const hooks: Options<ProxiedRequest, ServerResponse>['on'] = {
    proxyReq: (proxyReq, req, res) => {
      proxyReq.path = pathOf(req);
      // A client gone before the end of its answer: the connection to the service would stay
      // busy, out of the pool, until the service answered or the timeout, for no one. Node
      // reports no abort (http-proxy's `aborted`) for a request whose body had been read.
      const abandon = () => {
        if (!res.writableFinished) proxyReq.destroy();
      };
      if (res.destroyed) abandon();
      else res.once('close', abandon);
      // In place of http-proxy's `proxyTimeout`, which ends the request as a hang-up would
      // (ECONNRESET): the error hook must tell a service too slow from one that dropped it.
      proxyReq.setTimeout(timeoutSeconds * 1000, () => proxyReq.destroy(timedOut('answer')));
      // A service that switches protocols on a request that asked for none: without a listener,
      // Node drops the connection and neither answers nor fails the request, whose client would
      // then wait for ever.
      proxyReq.once('upgrade', (_answer: IncomingMessage, socket: Socket) => {
        socket.destroy();
        proxyReq.emit('error', Object.assign(new Error('unrequested upgrade'), { code: 'EPROTO' }));
      });
      if (req.bufferedBody?.length) {
        proxyReq.write(req.bufferedBody);
      }
    },
    proxyReqWs: (proxyReq, req, socket) => {
      proxyReq.path = pathOf(req);
      // The proxy's timeout covers requests only: a service that takes the connection and
      // never answers the handshake would hold the client's socket for ever.
      const timer = setTimeout(
        () => proxyReq.destroy(timedOut('handshake')),
        timeoutSeconds * 1000,
      );
      const answered = (response: IncomingMessage) => {
        clearTimeout(timer);
        req.upstreamResponse = response;
      };
      const { stopWatching } = watchClientLeaving(socket, () => {
        if (req.upstreamResponse) return;
        socket.destroy();
        proxyReq.destroy();
      });
      proxyReq
        .once('upgrade', (response: IncomingMessage) => {
          answered(response);
          stopWatching();
        })
        .once('response', (response: IncomingMessage) => {
          answered(response);
          setRefusalHeaders(response);
        })
        .once('close', () => clearTimeout(timer));
    },
    proxyRes: (proxyRes, req, res) => {
      req.upstreamResponse = proxyRes;
      delete proxyRes.headers['x-powered-by'];
      setClientConnection(proxyRes, res);
      // http-proxy pipes the answer on, and a pipe whose source breaks off never ends.
      proxyRes.once('close', () => {
        if (!proxyRes.complete) res.destroy();
      });
    },
    error: (error, req, res) => {
      const code = (error as NodeJS.ErrnoException).code;
      const statusCode = code === 'ETIMEDOUT' ? 504 : 502;
      const message = `The ${upstream.name} service is unavailable`;
      if (res instanceof Socket) {
        // An upgrade: once the service's answer (a 101, or a refusal) has begun, the gateway
        // has nothing to add; before, the client gets the answer a request would.
        if (req.upstreamResponse || !res.writable) {
          res.destroy();
          return;
        }
        logger.warn(`${upstream.url} did not answer an upgrade: ${code ?? error.message}`);
        res.end(rawErrorAnswer(statusCode, { message }));
        return;
      }
      // The service answered in full, then closed while the gateway was still writing:
      // its answer stands and is already on its way to the client.
      if (req.upstreamResponse?.complete) {
        return;
      }
      if (mayResend(req, code)) {
        req.resent = true;
        logger.warn(
          `${upstream.url} dropped a ${req.method} unanswered (${code}): sending it again`,
        );
        void ownConnection(req, res);
        return;
      }
      logger.warn(`${upstream.url} did not answer: ${code ?? error.message}`);
      if (!res.headersSent) {
        res.writeHead(statusCode, { 'content-type': 'application/json; charset=utf-8' });
        res.end(JSON.stringify({ statusCode, message }));
        return;
      }
      res.destroy();
    },
  };
  const proxyThrough = (agent: Agent | false) =>
    createProxyMiddleware<ProxiedRequest, ServerResponse>({
      target: upstream.url,
      pathFilter: (_pathname, req) => isProxied(req),
      changeOrigin: true,
      xfwd: false,
      agent,
      on: hooks,
    });
  const agent = keptAliveAgent(upstream.url);
  const proxy = proxyThrough(agent);
  // With no agent, http-proxy opens a connection per request and asks the service to close it.
  const ownConnection = proxyThrough(false);
  // Headers are rewritten on the request, which the proxy copies, not in its `proxyReq` hook:
  // http-proxy skips that hook (and so the body written there) when the request has `Expect`.
  const handler = (req: ProxiedRequest, res: ServerResponse, next?: (error?: unknown) => void) => {
    if (isProxied(req)) setEdgeHeaders(req, forwarded, proxies, { upgrade: false });
    return proxy(req, res, next);
  };
  return Object.assign(handler, {
    upgrade: (req: IncomingMessage, socket: Socket, head: Buffer) => {
      setEdgeHeaders(req, forwarded, proxies, { upgrade: true });
      ownConnection.upgrade(req, socket, head);
    },
    /** Closes every connection to the service: for when the gateway's server has closed. */
    close: () => agent.destroy(),
  });
}

/**
 * Milliseconds a connection to a service stays open unused, unless the service announces less
 * (`Keep-Alive: timeout=5` from Node's servers, of which Node's agent keeps 1 s less): a
 * connection is never reused at the moment the service closes it for idleness, which a request
 * that changes something (and so is never sent again) would meet as a 502.
 */
const IDLE_CONNECTION_MS = 4_000;

/**
 * The agent a service's requests go through: connections kept alive and reused, most recently
 * used first, as many as there are requests in flight (a cap would queue requests in the agent,
 * where no timeout reaches them). Saves a connection's set-up and teardown, on both sides, per
 * request, and the port each closed connection holds for a minute in `TIME_WAIT`.
 */
function keptAliveAgent(url: string): Agent {
  const options = { keepAlive: true, timeout: IDLE_CONNECTION_MS, scheduling: 'lifo' } as const;
  return new URL(url).protocol === 'https:' ? new TlsAgent(options) : new Agent(options);
}

/**
 * Puts the gateway's own `Connection` on a proxied answer in place of the service's, and drops
 * the service's `Keep-Alive` and the headers its `Connection` names (RFC 9110 §7.6.1): a service
 * that closes its connection to the gateway (as it does while it stops) must not close the
 * client's, and the client's connection must not stay open because the service's did. The
 * gateway's is `close` when the gateway set it before the proxy ran (it is stopping), or else
 * what Node decided from the client's request. The gateway's own headers of the names the
 * service's `Connection` lists (its security headers, `no-store`) are not about the service's
 * connection: they stay, whatever the service names. The service's `Transfer-Encoding` framed
 * the answer on the service's connection, where Node's parser undid it: the client's answer is
 * `chunked`, as Node frames it then. Passed on, a coding other than `chunked` (`identity`)
 * would tell the client the answer ends when the connection closes, which it does not.
 *
 * http-proxy copies the service's headers onto the answer after the `proxyRes` hook, so they are
 * rewritten when it starts piping the body, before any byte is written. The service's answer
 * itself is left as it is: Node's agent reads its `Keep-Alive` to know how long the connection
 * may stay unused.
 */
function setClientConnection(proxyRes: IncomingMessage, res: ServerResponse): void {
  const own = res.getHeader('connection');
  const named = (proxyRes.headers.connection ?? '').split(',').map((name) => name.trim());
  const kept = named.flatMap((name) => {
    const value = name ? res.getHeader(name) : undefined;
    return value === undefined ? [] : [{ name, value }];
  });
  res.once('pipe', () => {
    for (const name of ['keep-alive', 'proxy-connection', ...named]) {
      if (name) res.removeHeader(name);
    }
    for (const { name, value } of kept) res.setHeader(name, value);
    if (res.hasHeader('transfer-encoding')) res.setHeader('transfer-encoding', 'chunked');
    res.setHeader('connection', own ?? (res.shouldKeepAlive ? 'keep-alive' : 'close'));
  });
}

/**
 * Bytes a client may send after its WebSocket handshake before the service has answered it
 * (RFC 6455 §4.1 allows none); beyond them the client's connection is closed.
 */
const EARLY_BYTES_LIMIT = 64 * 1024;

/**
 * Calls `left` when the client of a WebSocket handshake closes or ends its connection before
 * the service has answered, so that the connection to the service goes too rather than waiting
 * for the answer or the timeout. An upgrade's socket is paused (no one reads it until the
 * service has switched), and a paused socket never sees its peer leave: it is read meanwhile,
 * and what the client sent early is put back for the service when `stopWatching` is called,
 * before the proxy pipes the socket on. (The server's sockets are half-open: a client's end
 * closes nothing by itself.)
 */
function watchClientLeaving(socket: Socket, left: () => void): { stopWatching(): void } {
  const early: Buffer[] = [];
  let size = 0;
  const read = (chunk: Buffer) => {
    size += chunk.length;
    if (size > EARLY_BYTES_LIMIT) socket.destroy();
    else early.push(chunk);
  };
  if (socket.destroyed) left();
  socket.once('close', left).once('end', left).on('data', read);
  return {
    stopWatching: () => {
      socket.off('close', left).off('end', left).off('data', read).pause();
      if (size) socket.unshift(Buffer.concat(early, size));
    },
  };
}

/**
 * Rewrites the head of a service's refusal of an upgrade (any answer but a 101), which
 * http-proxy writes to the client's socket as the service sent it, then pipes the body on and
 * closes the socket. The body it pipes is the one Node's parser read, its `chunked` framing
 * undone: the client's answer has no `Transfer-Encoding` and ends where the connection does
 * (`Connection: close`). The service's hop-by-hop headers go, as on a proxied answer
 * ({@link setClientConnection}), and `nosniff` and `no-store` are added where the service sent
 * none, as on every `/api/*` answer.
 */
function setRefusalHeaders(response: IncomingMessage): void {
  const { headers } = response;
  const named = (headers.connection ?? '').split(',').map((name) => name.trim().toLowerCase());
  for (const name of ['transfer-encoding', 'keep-alive', 'proxy-connection', ...named]) {
    if (name) delete headers[name];
  }
  delete headers['x-powered-by'];
  headers.connection = 'close';
  headers['x-content-type-options'] ??= 'nosniff';
  headers['cache-control'] ??= 'no-store';
}

/**
 * Whether a request the service failed with `code` may be sent to it once more: a reset or a
 * hang-up (ECONNRESET; a timeout is ETIMEDOUT) before any byte of the answer, of a request that
 * changes nothing, sent once so far. (A client that has gone does not get here: http-proxy
 * reports its reset as `econnreset`.)
 */
function mayResend(req: ProxiedRequest, code: string | undefined): boolean {
  return (
    code === 'ECONNRESET' &&
    SAFE_METHODS.has(req.method ?? '') &&
    !req.resent &&
    !req.upstreamResponse
  );
}

/** The error a request to a service ends with when `what` took longer than allowed. */
function timedOut(what: string): Error {
  return Object.assign(new Error(`${what} timeout`), { code: 'ETIMEDOUT' });
}

/**
 * Headers about one connection (RFC 9110 §7.6.1), never forwarded. `Expect` goes too: the
 * gateway has read the body already (Node answered `100 Continue`), and a service told to
 * expect one would wait for a body that had already been sent.
 */
const HOP_BY_HOP = [
  'connection',
  'keep-alive',
  'te',
  'proxy-authorization',
  'proxy-connection',
  'upgrade',
  'expect',
];

/**
 * Headers that only a proxy in front may set, each a claim a service or its framework might
 * believe: the client's address (read by IP-based limits and logs), the URL or the method the
 * request "really" had (Symfony, IIS and Express's method-override honour these, so a checked
 * `GET /api/catalog/products` could run as another path or a `DELETE`), the host it was for.
 * A client sends none of them; the gateway, the edge, drops them all. The `X-Forwarded-*`
 * family, `Forwarded` and the `X-Forwarded` of RFC 7239's predecessors go by prefix.
 */
const PROXY_ONLY = new Set([
  'x-real-ip',
  'x-client-ip',
  'client-ip',
  'true-client-ip',
  'cf-connecting-ip',
  'fastly-client-ip',
  'x-cluster-client-ip',
  'x-proxyuser-ip',
  'x-original-forwarded-for',
  'x-original-url',
  'x-original-uri',
  'x-rewrite-url',
  'x-original-host',
  'x-host',
  'x-http-method-override',
  'x-http-method',
  'x-method-override',
]);

/** Whether a header (its lowercase name) is one only a proxy sets ({@link PROXY_ONLY}). */
function isProxyOnly(name: string): boolean {
  return PROXY_ONLY.has(name) || name === 'forwarded' || name.startsWith('x-forwarded');
}

/**
 * Turns the client's headers into those the service gets. `Host` is the service's (the proxy's
 * `changeOrigin`) and every `X-Forwarded-*` is the gateway's (`forwarded`, and the client's
 * address: its socket's, or the one a proxy in `proxies` names in its `X-Forwarded-For`):
 * whatever else came under those names, and every other header only a proxy sets
 * ({@link PROXY_ONLY}: `Forwarded`, `X-Real-IP`, `True-Client-IP`, `X-Original-URL`,
 * `X-HTTP-Method-Override`...), is dropped, as are hop-by-hop headers and any that the client's
 * `Connection` names. So is every header whose name has an underscore, as nginx drops them:
 * stacks that map headers CGI-style (`HTTP_X_FORWARDED_FOR`) read `_` and `-` alike, so
 * `X_Forwarded_For` would reach them as the `X-Forwarded-For` the gateway sets, or in its
 * place. An upgrade keeps `Upgrade`, with `Connection: upgrade`. A buffered body's length is
 * set last: no header the client names can take it away.
 */
function setEdgeHeaders(
  req: BufferedRequest,
  forwarded: Record<string, string>,
  proxies: TrustedProxies,
  { upgrade }: { upgrade: boolean },
): void {
  const { headers } = req;
  const client = proxies.clientOf(req);
  const named = (headers.connection ?? '').split(',').map((name) => name.trim().toLowerCase());
  for (const name of [...HOP_BY_HOP, ...named]) {
    if (!(upgrade && name === 'upgrade')) delete headers[name];
  }
  for (const name of Object.keys(headers)) {
    if (isProxyOnly(name) || name.includes('_')) delete headers[name];
  }
  Object.assign(headers, forwarded, { 'x-forwarded-for': client });
  if (upgrade) headers.connection = 'upgrade';
  if (req.bufferedBody) headers['content-length'] = String(req.bufferedBody.length);
}

/** A service's path prefix and its proxy, for {@link proxyUpgrades}. */
export interface UpgradeRoute {
  prefix: string;
  proxy: Pick<RequestHandler, 'upgrade'>;
}

/**
 * Proxies WebSocket upgrades (`GET /api/orders/ws`) to the service whose prefix the path is
 * under, through that service's proxy (same headers as its requests); any other upgrade is
 * answered 404 and its socket closed, so that none is left hanging. The service answers the
 * paths under its prefix (a 404 for one it serves no WebSocket on); when it does not answer at
 * all, the proxy answers 502 or 504 as for a request, but never sends an upgrade again. Every
 * refusal is the JSON error of the other `/api/*` answers (`rawErrorAnswer`); an upgrade
 * pipelined behind requests not yet answered has its connection closed; a handshake that
 * announces a body is refused with a 400, one with more than `MAX_HEADER_LINES` header lines
 * with a 431, one for a host `hosts` refuses with its 421 (or 400), as a request would be; one
 * whose absolute-form target names a host of the gateway's goes on in origin form.
 *
 * @example
 * proxyUpgrades(app.getHttpServer(), [{ prefix: '/api/orders', proxy }], hosts);
 */
export function proxyUpgrades(server: Server, routes: UpgradeRoute[], hosts: AllowedHosts): void {
  trackOwedAnswers(server);
  server.on('upgrade', (req: IncomingMessage, socket: Socket, head: Buffer) => {
    // Node takes its own error listener off a socket it hands over: a client that resets the
    // connection while a refusal is being written would otherwise stop the gateway.
    socket.on('error', () => socket.destroy());
    // Pipelined behind requests not yet answered: whatever went out now (a refusal, the
    // service's 101, an ordinary answer) would come before their answers, which still hold the
    // socket (an ordinary answer cannot take it: Node throws, which stopped the gateway).
    if (owesAnswers(socket)) {
      socket.destroy();
      return;
    }
    if (!isWebSocketHandshake(req)) {
      answerIgnoringUpgrade(server, req, socket);
      return;
    }
    if (hasTooManyHeaderLines(req)) {
      socket.end(rawErrorAnswer(431, { message: TOO_MANY_HEADER_LINES }));
      return;
    }
    const refusal = hosts.refusalOf(req);
    if (refusal) {
      socket.end(rawErrorAnswer(refusal.status, { message: refusal.message }));
      return;
    }
    toOriginForm(req);
    // What follows the handshake's head goes to the service only once it has switched: a body
    // the service was told of would never come, or come read as WebSocket frames.
    if (hasBody(req)) {
      socket.end(rawErrorAnswer(400, { message: 'A WebSocket handshake has no body' }));
      return;
    }
    const url = req.url ?? '';
    // The proxy's own filter: an upgrade it would not take must not reach it, for it would
    // neither answer nor close it.
    const route = isCanonicalPath(url) && routes.find(({ prefix }) => isProxiedPath(url, prefix));
    if (!route) {
      socket.end(rawErrorAnswer(404));
      return;
    }
    route.proxy.upgrade(req, socket, head);
  });
}

/** Whether an upgrade request is a WebSocket handshake: a GET offering `websocket`. */
function isWebSocketHandshake(req: IncomingMessage): boolean {
  const offered = (req.headers.upgrade ?? '').split(',').map((name) => name.trim().toLowerCase());
  return req.method === 'GET' && offered.includes('websocket');
}

/** Whether a request announces a body: any `Transfer-Encoding`, or a `Content-Length` but 0. */
function hasBody(req: IncomingMessage): boolean {
  return (
    req.headers['transfer-encoding'] !== undefined ||
    Number(req.headers['content-length'] ?? 0) !== 0
  );
}

/**
 * Answers a request that offers to switch to another protocol than WebSocket (`Upgrade: h2c`,
 * as `curl --http2` sends over plain HTTP) as the ordinary request it also is, as a server that
 * does not switch must (RFC 9110 §7.8). Once the server has `upgrade` listeners, Node hands
 * every request that carries `Upgrade` to them, its connection taken off the HTTP parser: the
 * request goes to the app here, on a response of its own, and the connection is closed after
 * the answer. Such a request with a body is refused with a JSON 400 (its body was not read as
 * HTTP, so nothing is forwarded); without `Upgrade` it would be served.
 */
function answerIgnoringUpgrade(server: Server, req: IncomingMessage, socket: Socket): void {
  if (hasBody(req)) {
    socket.end(rawErrorAnswer(400, { message: 'Upgrade is served for WebSocket handshakes only' }));
    return;
  }
  req.push(null);
  const res = new ServerResponse(req);
  res.shouldKeepAlive = false;
  res.assignSocket(socket);
  res.once('finish', () => socket.end());
  server.emit('request', req, res);
}

/**
 * Whether a request target's path is the one the gateway forwards as it is: no backslash, no
 * empty or dot segment, no percent-encoded slash, backslash or dot, and no `#` anywhere. The
 * proxy would turn `\` into `/`, collapse `//` and drop a fragment (which no conforming client
 * sends) on the way, so a path like `/api/auth//metrics` would be checked as one thing and
 * forwarded as another; such paths are refused at the edge instead.
 */
export function isCanonicalPath(url: string): boolean {
  const path = url.split('?')[0];
  return !url.includes('#') && !/\\|\/\/|%2f|%5c|%2e|\/\.\.?(?:\/|$)/i.test(path);
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

/**
 * Whether the proxy of the service under `prefix` forwards this request target: never to its
 * metrics. The path ends at a query or a fragment, as the path the proxy sends does.
 */
function isProxiedPath(url: string, prefix: string): boolean {
  const path = url.split(/[?#]/)[0];
  return (path === prefix || path.startsWith(`${prefix}/`)) && !isMetricsPath(path, prefix);
}

/**
 * A service's `metrics` route, which stays on the service network: the path as a router could
 * match it (any case, percent-encoded, trailing slashes).
 */
function isMetricsPath(path: string, prefix: string): boolean {
  let route = path;
  try {
    route = decodeURIComponent(route);
  } catch {
    // Not decodable: no router matches it to `metrics` either.
  }
  return route.toLowerCase().replace(/\/+$/, '') === `${prefix}/metrics`;
}
