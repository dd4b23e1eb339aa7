import type { HttpRequest } from '../common/http.types';

/** The client address; `trust proxy` decides whether X-Forwarded-For is believed. */
export function clientIp(request: HttpRequest): string {
  const address = request.ip ?? request.socket.remoteAddress ?? 'unknown';
  // A dual-stack socket reports IPv4 clients as IPv4-mapped IPv6; show them as people know them.
  return address.startsWith('::ffff:') && address.includes('.') ? address.slice(7) : address;
}
