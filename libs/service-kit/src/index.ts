export { HttpErrorFilter, ErrorBody } from './lib/http-error.filter';
export { StartupError } from './lib/startup.error';
export { exitOnStartupFailure } from './lib/startup-failure.handler';
export { EnvConfigModule } from './lib/env-config.module';
export { configureServiceApp } from './lib/service-app.setup';
