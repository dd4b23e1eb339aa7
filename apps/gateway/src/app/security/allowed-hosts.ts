import type { IncomingMessage, Server, ServerResponse } from 'node:http';

import { answerWithError } from '@cloakroom/service-kit';

/** The loopback interface's names, served at the port the gateway listens on. */
const LOOPBACK_NAMES = ['localhost', '127.0.0.1', '[::1]'];

/**
 * A `Host` value as the gateway takes it, lowercased: a DNS name (letters, digits, hyphens; no
 * empty label, so no trailing dot), an IPv4 address or a bracketed IPv6 literal, then an
 * optional port without leading zeros. Anything else (userinfo, a path, a second host, spaces)
 * matches nothing.
 */
const HOST_VALUE =
  /^(\[[0-9a-f:.]+\]|[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)*)(?::(0|[1-9][0-9]{0,4}))?$/;

/** The authority of an absolute-form request target (`http://host:port/path`). */
const ABSOLUTE_TARGET = /^[a-z][a-z0-9+.-]*:\/\/([^/?#]*)/i;

/** An absolute-form target the gateway serves as the origin form it stands for. */
const HTTP_TARGET = /^https?:\/\/([^/?#]*)/i;

/** A host name and its port as written (none: the scheme's default). */
interface HostValue {
  name: string;
  port?: string;
}

/** `value` split into name and port, or `undefined` when it is not a host ({@link HOST_VALUE}). */
function parseHost(value: string): HostValue | undefined {
  const match = HOST_VALUE.exec(value.toLowerCase());
  if (!match || (match[2] !== undefined && Number(match[2]) > 65535)) return undefined;
  return { name: match[1], port: match[2] };
}

/**
 * The entries of a `GATEWAY_ALLOWED_HOSTS` value, lowercased: host names, addresses or bracketed
 * IPv6 literals, each with an optional `:port`; throws an error naming the first entry that is
 * none of these (a scheme, a path, userinfo, a wildcard).
 */
export function parseAllowedHosts(setting: string): string[] {
  const entries = setting
    .split(',')
    .map((entry) => entry.trim())
    .filter(Boolean);
  for (const entry of entries) {
    if (!parseHost(entry)) {
      throw new Error(`"${entry}" is not a host name or an address, with an optional :port`);
    }
  }
  return entries.map((entry) => entry.toLowerCase());
}

/** An origin's host with its port spelled out (`https://shop.example`: `shop.example:443`). */
export function hostOfOrigin(origin: URL): string {
  return `${origin.hostname}:${origin.port || (origin.protocol === 'https:' ? '443' : '80')}`;
}

/**
 * The hosts the gateway answers for, against DNS rebinding: a page on `evil.example` whose
 * name its owner points at the gateway's address is same-origin with what the gateway answers,
 * and its requests say `Host: evil.example`. Only requests naming a host of the gateway's own
 * get through: the loopback names (`localhost`, `127.0.0.1`, `[::1]`) at the port the connection
 * came in on, and each entry of `hosts`: `name:port` for that port alone (an origin's, from
 * {@link hostOfOrigin}), `name` for any port or none. A `Host` without a port is at a default
 * port, 80 or 443: which one the gateway cannot tell when a proxy in front terminates HTTPS.
 * Names compare case-insensitively, ports as written; a trailing dot, another spelling of an
 * address or userinfo matches nothing.
 *
 * An absolute-form request target (`GET http://host/path`), whose authority a server must take
 * over `Host` (RFC 9112 §3.2.2), must name an accepted host as well; it is then served as its
 * origin form ({@link serveAbsoluteForm}).
 *
 * @example
 * const hosts = new AllowedHosts(['shop.example:443', 'gateway.internal']);
 * hosts.refusalOf(req); // undefined, or { status: 421, message } to answer
 */
export class AllowedHosts {
  private readonly exact = new Set<string>();
  private readonly anyPort = new Set<string>();

  /** @param hosts entries as {@link parseAllowedHosts} returns them. */
  constructor(hosts: readonly string[]) {
    for (const host of hosts) {
      const parsed = parseHost(host);
      if (!parsed) continue;
      if (parsed.port === undefined) this.anyPort.add(parsed.name);
      else this.exact.add(`${parsed.name}:${parsed.port}`);
    }
  }

  /** Whether `value`, a `Host` or an absolute target's authority, names an accepted host. */
  accepts(value: string, localPort: number | undefined): boolean {
    const host = parseHost(value);
    if (!host) return false;
    if (this.anyPort.has(host.name)) return true;
    const ports = host.port === undefined ? ['80', '443'] : [host.port];
    if (ports.some((port) => this.exact.has(`${host.name}:${port}`))) return true;
    return LOOPBACK_NAMES.includes(host.name) && ports.includes(String(localPort));
  }

  /**
   * Why a request is refused, or `undefined` when its host is accepted: a 400 for no `Host` or
   * several (RFC 9112 §3.2; Node keeps the first, a service or a cache in between might read
   * another), a 421 for a host that is not the gateway's, in `Host` or in the target.
   */
  refusalOf(req: IncomingMessage): { status: 400 | 421; message: string } | undefined {
    const lines = req.rawHeaders.filter((_value, index) => index % 2 === 0);
    const hostLines = lines.filter((name) => name.toLowerCase() === 'host').length;
    if (hostLines !== 1) {
      return { status: 400, message: hostLines ? 'More than one Host header' : 'No Host header' };
    }
    const misdirected = { status: 421 as const, message: 'This gateway does not serve that host' };
    const localPort = req.socket.localPort;
    if (!this.accepts(req.headers.host ?? '', localPort)) return misdirected;
    const target = req.url ?? '';
    if (target.startsWith('/') || target === '*') return undefined;
    const authority = ABSOLUTE_TARGET.exec(target)?.[1];
    return authority !== undefined && this.accepts(authority, localPort) ? undefined : misdirected;
  }
}

/** Requests {@link refuseUnknownHosts} let through to a path open to any host. */
const letThroughForAnyHost = new WeakSet<IncomingMessage>();

/**
 * Whether `req` names a host the gateway does not serve and was let through all the same, to a
 * path open to any host: its answer must tell no more than up or down.
 */
export function namesUnknownHost(req: IncomingMessage): boolean {
  return letThroughForAnyHost.has(req);
}

/**
 * Middleware that answers a request for a host the gateway does not serve
 * ({@link AllowedHosts.refusalOf}) with a JSON 421 (400 for a missing or repeated `Host`) and
 * closes the connection, its body unread, before any route, body limit or proxy.
 *
 * A GET or HEAD of one of `openPaths` (exactly, in origin form; any query) goes through
 * whatever its `Host` names, marked ({@link namesUnknownHost}): a load balancer's or
 * Kubernetes' probe names the address it dials, which no one should have to list.
 *
 * @example
 * app.use(refuseUnknownHosts(new AllowedHosts(allowedHostsOf(env)), ['/api/gateway/health']));
 */
export function refuseUnknownHosts(
  hosts: AllowedHosts,
  openPaths: readonly string[] = [],
): (req: IncomingMessage, res: ServerResponse, next: () => void) => void {
  return (req, res, next) => {
    const refusal = hosts.refusalOf(req);
    if (!refusal) {
      next();
      return;
    }
    if (refusal.status === 421 && isOpenToAnyHost(req, openPaths)) {
      letThroughForAnyHost.add(req);
      next();
      return;
    }
    answerWithError(res, refusal.status, refusal.message);
  };
}

/**
 * Rewrites an `http:` or `https:` absolute-form target (`GET http://localhost:3000/api/...`) to
 * the origin form it stands for (`/api/...`: the rest of the target as written, `/` when it is
 * empty), with its authority as `Host` (RFC 9112 §3.2.2: a server must accept the form and take
 * the host from it), so that it is routed, checked and forwarded as that request would be. Call
 * it only on a request {@link AllowedHosts.refusalOf} accepts: the authority is then one of the
 * gateway's hosts, and the gateway never a proxy to another.
 *
 * @example
 * if (!hosts.refusalOf(req)) toOriginForm(req);
 */
export function toOriginForm(req: IncomingMessage): void {
  const target = req.url ?? '';
  const match = HTTP_TARGET.exec(target);
  if (!match) return;
  const rest = target.slice(match[0].length);
  req.url = rest.startsWith('/') ? rest : `/${rest}`;
  req.headers.host = match[1];
}

/**
 * Takes every request of `server` whose absolute-form target names a host of the gateway's in
 * origin form ({@link toOriginForm}) before the app sees it: Express's router keeps the scheme
 * and authority of the target it was handed and puts them back in front of each path it
 * strips, so the rewrite must come before it. Requests `hosts` refuses are left as they came,
 * for {@link refuseUnknownHosts} to answer.
 *
 * @example
 * serveAbsoluteForm(app.getHttpServer(), hosts);
 */
export function serveAbsoluteForm(server: Server, hosts: AllowedHosts): void {
  server.prependListener('request', (req: IncomingMessage) => {
    if (!req.url?.startsWith('/') && !hosts.refusalOf(req)) toOriginForm(req);
  });
}

function isOpenToAnyHost(req: IncomingMessage, openPaths: readonly string[]): boolean {
  const target = req.url ?? '';
  return (
    (req.method === 'GET' || req.method === 'HEAD') &&
    target.startsWith('/') &&
    openPaths.includes(target.split('?')[0])
  );
}
