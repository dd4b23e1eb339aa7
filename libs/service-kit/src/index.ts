export { bootstrapService, BootstrapOptions } from './lib/bootstrap/bootstrap-service';
export {
  configureServiceApp,
  ServiceDefinition,
  VALIDATION_OPTIONS,
} from './lib/bootstrap/service-app.setup';
export { exitOnStartupFailure } from './lib/bootstrap/startup-failure.handler';
export { StartupError } from './lib/bootstrap/startup.error';
export { HttpErrorFilter, ErrorBody } from './lib/http/http-error.filter';
export { ServiceConfigModule } from './lib/config/service-config.module';
export { ServiceEnv, NODE_ENVIRONMENTS } from './lib/config/service.env';
export {
  Setting,
  SettingDescription,
  settingsOf,
  ToBoolean,
  ToNumber,
} from './lib/config/setting.decorator';
export { IsPortSetting, IsSecondsSetting } from './lib/config/setting.types';
export { validateEnv } from './lib/config/validate-env';
