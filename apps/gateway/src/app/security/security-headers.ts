import { HelmetOptions } from 'helmet';

/**
 * The gateway's security headers (helmet), on the page and on every proxied answer (a
 * service's own headers of the same name win): the page's own files only, no inline script,
 * no framing, no third-party origin; HSTS only where browsers reach the gateway over TLS.
 *
 * @example
 * securityHeaders(new URL('https://shop.example')); // HSTS on
 */
export function securityHeaders(publicUrl: URL): HelmetOptions {
  return {
    contentSecurityPolicy: {
      useDefaults: false,
      directives: {
        defaultSrc: ["'self'"],
        scriptSrc: ["'self'"],
        styleSrc: ["'self'"],
        imgSrc: ["'self'", 'data:'],
        objectSrc: ["'none'"],
        baseUri: ["'none'"],
        frameAncestors: ["'none'"],
        formAction: ["'self'"],
      },
    },
    referrerPolicy: { policy: 'same-origin' },
    xFrameOptions: { action: 'deny' },
    strictTransportSecurity:
      publicUrl.protocol === 'https:' ? { maxAge: 31_536_000, includeSubDomains: true } : false,
  };
}
