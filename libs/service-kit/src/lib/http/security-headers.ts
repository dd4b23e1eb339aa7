import { HelmetOptions } from 'helmet';

/**
 * The security headers of every service response: helmet's defaults (`nosniff`,
 * `Referrer-Policy: no-referrer`, a same-origin CSP that the Swagger UI still works under,
 * framing refused). HSTS is the gateway's decision, made at the edge where TLS is known, and
 * `upgrade-insecure-requests` would break plain-HTTP deployments on a private network.
 *
 * @example
 * securityHeaders: {
 *   ...SERVICE_SECURITY_HEADERS,
 *   // the shop's other subdomains embed this service's images
 *   crossOriginResourcePolicy: { policy: 'same-site' },
 * },
 */
export const SERVICE_SECURITY_HEADERS: HelmetOptions = {
  contentSecurityPolicy: { directives: { upgradeInsecureRequests: null } },
  strictTransportSecurity: false,
};
