import { INestApplication, ValidationPipe } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';

import { HttpErrorFilter } from '@cloakroom/service-kit';

/** What `main.ts` and the e2e specs both apply to the app: one prefix, one pipe, one filter. */
export function configureApp(app: INestApplication): INestApplication {
  app.setGlobalPrefix('api');
  app.useGlobalPipes(
    new ValidationPipe({ whitelist: true, forbidNonWhitelisted: true, transform: true }),
  );
  app.useGlobalFilters(new HttpErrorFilter(app.get(HttpAdapterHost)));
  app.enableShutdownHooks();
  return app;
}
