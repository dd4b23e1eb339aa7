import { INestApplication, Type, ValidationPipe, ValidationPipeOptions } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';

import { HttpErrorFilter } from '../http/http-error.filter';

/** One validation policy for every body: unknown fields are refused, not silently dropped. */
export const VALIDATION_OPTIONS: ValidationPipeOptions = {
  whitelist: true,
  forbidNonWhitelisted: true,
  transform: true,
};

/** What makes an app a Cloakroom service, shared by its `main.ts` and its in-process tests. */
export interface ServiceDefinition<A extends INestApplication = INestApplication> {
  /** Starts failure lines and log lines; the routes are served under `/api/<name>`. */
  name: string;
  /** A subclass of {@link HttpErrorFilter} for errors only this service raises. */
  errorFilter?: Type<HttpErrorFilter>;
  /** What only this service sets up: body limits, a microservice, static files, OpenAPI. */
  configure?: (app: A) => void;
}

/**
 * The HTTP stack of every service: routes under `/api/<name>`, one validation pipe that
 * refuses unknown fields, one {@link HttpErrorFilter}, then the service's own `configure`,
 * and a clean shutdown on SIGTERM. A microservice connected in `configure` with
 * `inheritAppConfig: true` gets the same pipe and filter.
 *
 * @example
 * const app = moduleRef.createNestApplication<NestExpressApplication>();
 * await configureServiceApp(app, { name: 'orders' }).init(); // GET /api/orders/health
 */
export function configureServiceApp<A extends INestApplication>(
  app: A,
  service: ServiceDefinition<A>,
): A {
  app.setGlobalPrefix(`api/${service.name}`);
  app.useGlobalPipes(new ValidationPipe(VALIDATION_OPTIONS));
  const ErrorFilter = service.errorFilter ?? HttpErrorFilter;
  app.useGlobalFilters(new ErrorFilter(app.get(HttpAdapterHost)));
  service.configure?.(app);
  app.enableShutdownHooks();
  return app;
}
