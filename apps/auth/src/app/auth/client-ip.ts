import { isIPv4 } from 'node:net';

import type { HttpRequest } from '../common/http.types';
import type { ClientInfo } from './auth.service';
import type { DeviceLabelService } from './device-label.service';
import type { DeviceTokenService } from './device-token.service';

/** The client address; `trust proxy` decides whether X-Forwarded-For is believed. */
export function clientIp(request: HttpRequest): string {
  const address = request.ip ?? request.socket.remoteAddress ?? 'unknown';
  // A dual-stack socket reports IPv4 clients as IPv4-mapped IPv6; show them as people know them.
  // Only when what is left is an IPv4 address: a mapped address with a zone (`%eth0`, which a
  // trusted proxy may name) cut short would be no address, and the login throttle would count
  // each zone as a network of its own instead of that IPv4 address.
  const mapped = address.slice(7);
  return address.startsWith('::ffff:') && isIPv4(mapped) ? mapped : address;
}

/**
 * The client's address, user agent and device label, as sessions and the activity log keep
 * them, and the device token it presents (for the login throttle only).
 */
export function clientInfo(
  request: HttpRequest,
  devices: DeviceLabelService,
  deviceTokens: DeviceTokenService,
): ClientInfo {
  const userAgent = request.headers['user-agent'];
  return {
    ip: clientIp(request),
    userAgent,
    device: devices.label(userAgent),
    deviceTokens: deviceTokens.read(request),
  };
}
