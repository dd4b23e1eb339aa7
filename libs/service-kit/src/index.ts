export { bootstrapService, BootstrapOptions } from './lib/bootstrap/bootstrap-service';
export { configureServiceApp, ServiceDefinition } from './lib/bootstrap/service-app.setup';
export { exitOnStartupFailure, ListenSettings } from './lib/bootstrap/startup-failure.handler';
export { StartupError } from './lib/bootstrap/startup.error';
export { HttpErrorFilter, ErrorBody } from './lib/http/http-error.filter';
export { isDatabaseUnavailable } from './lib/http/database-unavailable';
export {
  BODY_LIMITS,
  bodyLimitOf,
  DEFAULT_BODY_LIMIT,
  JSON_MAX_DEPTH,
  JSON_MAX_VALUES,
} from './lib/http/body-limits';
export {
  holdsMoreValuesThan,
  jsonShapeExcess,
  JsonShapeExcess,
  nestsDeeperThan,
} from './lib/http/json-depth';
export { answerWithError, rawErrorAnswer, RawErrorAnswerOptions } from './lib/http/raw-answer';
export { StrictValidationPipe } from './lib/http/strict-validation.pipe';
export { SERVICE_SECURITY_HEADERS } from './lib/http/security-headers';
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
export { clientNetwork, clientSite, NETWORKS_PER_SITE } from './lib/http/client-network';
export {
  keysetCursor,
  KeysetCursor,
  KeysetCursorOptions,
  nextPageLink,
} from './lib/http/keyset-paging';
