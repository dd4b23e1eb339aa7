import { DynamicModule, Logger, Type } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { NestFactory } from '@nestjs/core';
import { NestExpressApplication } from '@nestjs/platform-express';

import { configureServiceApp, ServiceDefinition } from './service-app.setup';
import { exitOnStartupFailure, listenFailure } from './startup-failure.handler';
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
    await app.startAllMicroservices();
    const port = app.get(ConfigService).getOrThrow<number>(options.port);
    await app.listen(port).catch((error: unknown) => {
      const listening = listenFailure(error);
      throw listening ? new StartupError(`${listening}; set ${options.port}`, error) : error;
    });
    app.flushLogs();
    Logger.log(`${name} listening on http://localhost:${port}/api/${name}`, 'Bootstrap');
    return app;
  } catch (error) {
    return exitOnStartupFailure(name, error);
  }
}
