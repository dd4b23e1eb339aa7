import { EventEmitter } from 'node:events';
import { DynamicModule, INestApplication, Logger, Type } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { NestFactory } from '@nestjs/core';
import { NestExpressApplication } from '@nestjs/platform-express';

import { configureServiceApp, ServiceDefinition } from './service-app.setup';
import { exitOnStartupFailure, listenFailure, ListenSettings } from './startup-failure.handler';
import { StartupError } from './startup.error';

/**
 * What `bootstrapService` starts: a service's definition, its root module and its port setting.
 *
 * @example
 * bootstrapService({ ...authService, module: AppModule.forRoot(), port: 'AUTH_PORT' });
 */
export interface BootstrapOptions extends ServiceDefinition<NestExpressApplication> {
  /** The root module; its configuration comes from `ServiceConfigModule`. */
  module: Type<unknown> | DynamicModule;
  /** The setting that holds the HTTP port, e.g. `ORDERS_PORT`. */
  port: string;
}

/**
 * Starts a service, or exits 1 through {@link exitOnStartupFailure}. Logs stay buffered until
 * the service listens: configuration, database and session store are checked while the
 * modules initialise (`StartupError` when they fail), before anything listens.
 *
 * @example
 * // apps/orders/src/main.ts
 * bootstrapService({ name: 'orders', module: AppModule.forRoot(), port: 'ORDERS_PORT' });
 */
export async function bootstrapService(options: BootstrapOptions): Promise<NestExpressApplication> {
  const { name } = options;
  try {
    const app = await NestFactory.create<NestExpressApplication>(options.module, {
      bufferLogs: true,
      autoFlushLogs: false,
      abortOnError: false,
      // `configureServiceApp` installs the body parsers, with the service's limits.
      bodyParser: false,
    });
    configureServiceApp(app, options);
    await app.init();
    await startMicroservices(app).catch(namingSettings(options.rpcSettings));
    const port = app.get(ConfigService).getOrThrow<number>(options.port);
    await app.listen(port).catch(namingSettings({ port: options.port }));
    app.flushLogs();
    Logger.log(`${name} listening on http://localhost:${port}/api/${name}`, 'Bootstrap');
    return app;
  } catch (error) {
    return exitOnStartupFailure(name, error);
  }
}

/**
 * Starts the app's microservices, or fails with the first error of a server that cannot listen.
 * Nest's TCP server passes only EADDRINUSE on to its caller: an address that is not this host's
 * (EADDRNOTAVAIL) or a port it may not take (EACCES) left the start waiting on an event loop with
 * nothing left in it, and the process ended with status 0 without a word.
 */
function startMicroservices(app: INestApplication): Promise<void> {
  const servers = app.getMicroservices().flatMap((microservice) => {
    try {
      const server = microservice.unwrap<unknown>();
      return server instanceof EventEmitter ? [server] : [];
    } catch {
      // A transport without a server of its own (a broker client) has no port to fail on.
      return [];
    }
  });
  return new Promise<void>((resolve, reject) => {
    const refused = (error: NodeJS.ErrnoException) => {
      if (error?.syscall === 'listen') reject(error);
    };
    servers.forEach((server) => server.on('error', refused));
    app
      .startAllMicroservices()
      .then(() => resolve(), reject)
      .finally(() => servers.forEach((server) => server.off('error', refused)));
  });
}

/** Rethrows a failure to listen as the one line that names the setting to change. */
function namingSettings(settings: ListenSettings | undefined): (error: unknown) => never {
  return (error) => {
    const listening = listenFailure(error, settings);
    throw listening && settings ? new StartupError(listening, error) : error;
  };
}
