import { IncomingMessage, ServerResponse } from 'node:http';
import { Type } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import { NestExpressApplication } from '@nestjs/platform-express';
import helmet, { HelmetOptions } from 'helmet';

import { bodyLimitOf } from '../http/body-limits';
import { answerClientErrors } from '../http/client-errors';
import { useBodyParsers } from '../http/body-parsers';
import { HttpErrorFilter } from '../http/http-error.filter';
import { SERVICE_SECURITY_HEADERS } from '../http/security-headers';
import { limitSlowClients } from '../http/slow-clients';
import { StrictValidationPipe } from '../http/strict-validation.pipe';
import { ServiceEnv } from '../config/service.env';
import { shutDownGracefully } from './graceful-shutdown';
import { ListenSettings } from './startup-failure.handler';

/**
 * What makes an app a Cloakroom service, shared by its `main.ts` and its in-process tests.
 *
 * @example
 * export const authService: ServiceDefinition<NestExpressApplication> = {
 *   name: 'auth',
 *   errorFilter: AuthErrorFilter,
 *   bodilessRoutes: ['/logout'], // a logout ends the session whatever body comes with it
 * };
 */
export interface ServiceDefinition<A extends NestExpressApplication = NestExpressApplication> {
  /** Starts failure lines and log lines; the routes are served under `/api/<name>`. */
  name: string;
  /** A subclass of {@link HttpErrorFilter} for errors only this service raises. */
  errorFilter?: Type<HttpErrorFilter>;
  /** What only this service sets up: a microservice, static files, OpenAPI. */
  configure?: (app: A) => void;
  /**
   * The settings of the RPC server `configure` connects: a port it cannot take is then a
   * start-up failure whose one line names the setting to change, as the HTTP port's does.
   */
  rpcSettings?: ListenSettings;
  /**
   * What only this service does at a shutdown signal, while its requests in flight drain and
   * before Nest's shutdown hooks run, within the same drain time ({@link shutDownGracefully}):
   * orders closes its WebSockets with 1001 there, auth drains its session RPC.
   */
  stopping?: (app: A) => Promise<void> | void;
  /**
   * `false` leaves request bodies unparsed (the gateway streams them through); otherwise JSON
   * and forms up to the service's entry in `BODY_LIMITS`.
   */
  parseBodies?: boolean;
  /**
   * Routes, under `/api/<name>`, whose request bodies are never read, so that nothing a
   * client sends there can stop them (`['/logout']`: a malformed body must not keep a session
   * alive).
   */
  bodilessRoutes?: readonly string[];
  /**
   * Helmet's options, or a function of the app that returns them, when the service serves
   * more than JSON; {@link SERVICE_SECURITY_HEADERS} otherwise.
   */
  securityHeaders?: HelmetOptions | ((app: A) => HelmetOptions);
}

/**
 * The HTTP stack of every service: a 408 and a closed connection for a client that sends its
 * request too slowly (`HTTP_HEADERS_TIMEOUT`, `HTTP_REQUEST_TIMEOUT`; the defaults of
 * {@link ServiceEnv} in an app without `ServiceConfigModule`), security headers (helmet) and
 * `Cache-Control: no-store` on every response, JSON errors for what Node's HTTP parser refuses
 * too, bodies parsed within the service's limits (size and JSON depth) except on its bodiless
 * routes, routes under `/api/<name>`, one validation pipe that refuses unknown fields, one
 * {@link HttpErrorFilter}, then the service's own `configure`, and a clean shutdown on SIGTERM
 * that lets the requests in flight finish before any module lets go of Redis or its database
 * ({@link shutDownGracefully}).
 * A microservice connected in `configure` with `inheritAppConfig: true` gets the same pipe
 * and filter.
 *
 * Call it before the app listens: Node reads the deadlines' check interval then.
 *
 * @example
 * const app = moduleRef.createNestApplication<NestExpressApplication>();
 * await configureServiceApp(app, { name: 'orders' }).init(); // GET /api/orders/health
 */
export function configureServiceApp<A extends NestExpressApplication>(
  app: A,
  service: ServiceDefinition<A>,
): A {
  app.disable('x-powered-by');
  // Every answer is no-store (below): an ETag would be a SHA-1 of each body for nothing, and
  // one of a body holding a bearer token is a hash of the token that proxies may log.
  app.disable('etag');
  const env = serviceEnvOf(app);
  limitSlowClients(app.getHttpServer(), {
    headers: env.HTTP_HEADERS_TIMEOUT,
    request: env.HTTP_REQUEST_TIMEOUT,
  });
  answerClientErrors(app.getHttpServer());
  const { securityHeaders = SERVICE_SECURITY_HEADERS } = service;
  app.use(helmet(typeof securityHeaders === 'function' ? securityHeaders(app) : securityHeaders));
  // What an API answers depends on who asks: no cache keeps it. A route that serves the same
  // thing to everyone may say otherwise with its own header.
  app.use(noStore);
  if (service.parseBodies !== false) {
    const prefix = `/api/${service.name}`;
    const bodiless = (service.bodilessRoutes ?? []).map((route) => `${prefix}${route}`);
    useBodyParsers(app, bodyLimitOf(service.name), bodiless);
  }
  app.setGlobalPrefix(`api/${service.name}`);
  app.useGlobalPipes(new StrictValidationPipe());
  const ErrorFilter = service.errorFilter ?? HttpErrorFilter;
  app.useGlobalFilters(new ErrorFilter(app.get(HttpAdapterHost)));
  service.configure?.(app);
  shutDownGracefully(app, { stopping: () => service.stopping?.(app) });
  return app;
}

/** The service's settings, or the defaults where the app has no `ServiceConfigModule`. */
function serviceEnvOf(app: NestExpressApplication): ServiceEnv {
  try {
    return app.get(ServiceEnv, { strict: false });
  } catch {
    return new ServiceEnv();
  }
}

function noStore(_request: IncomingMessage, response: ServerResponse, next: () => void): void {
  response.setHeader('Cache-Control', 'no-store');
  next();
}
