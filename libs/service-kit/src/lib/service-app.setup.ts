import { INestApplication, ValidationPipe } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';

import { HttpErrorFilter } from './http-error.filter';

/**
 * What a service's `main.ts` and its in-process tests both apply to the app, so that both run
 * the same HTTP stack: routes under `/api`, one validation pipe that refuses unknown fields,
 * one {@link HttpErrorFilter}, and a clean shutdown on SIGTERM.
 *
 * @example
 * const app = await NestFactory.create(AppModule);
 * await configureServiceApp(app).listen(port);
 */
export function configureServiceApp<T extends INestApplication>(app: T): T {
  app.setGlobalPrefix('api');
  app.useGlobalPipes(
    new ValidationPipe({ whitelist: true, forbidNonWhitelisted: true, transform: true }),
  );
  app.useGlobalFilters(new HttpErrorFilter(app.get(HttpAdapterHost)));
  app.enableShutdownHooks();
  return app;
}
