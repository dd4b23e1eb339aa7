import { NestExpressApplication } from '@nestjs/platform-express';

/**
 * Serves the web page (plain HTML, CSS and JS) from `root`; its security headers are the
 * gateway's (helmet, `securityHeaders`). The files change with each deployment: revalidated.
 */
export function serveWebPage(app: NestExpressApplication, root: string): void {
  app.useStaticAssets(root, {
    index: 'index.html',
    setHeaders: (response) => {
      response.setHeader('Cache-Control', 'no-cache');
    },
  });
}
