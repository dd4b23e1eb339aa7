import { NestExpressApplication } from '@nestjs/platform-express';

/** The page's own files only: no inline script, no framing, no third-party origin. */
const SECURITY_HEADERS: Record<string, string> = {
  'Content-Security-Policy':
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
    "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'",
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'same-origin',
  'X-Frame-Options': 'DENY',
};

/** Serves the web page (plain HTML, CSS and JS) from `root`. */
export function serveWebPage(app: NestExpressApplication, root: string): void {
  app.useStaticAssets(root, {
    index: 'index.html',
    setHeaders: (response) => {
      for (const [name, value] of Object.entries(SECURITY_HEADERS)) {
        response.setHeader(name, value);
      }
      response.setHeader('Cache-Control', 'no-cache');
    },
  });
}
