import { ConfigurableModuleBuilder } from '@nestjs/common';

import type { SessionModuleOptions } from './config/session-options.interface';
import { SESSION_MODULE_OPTIONS } from './session.constants';

export const { ConfigurableModuleClass, OPTIONS_TYPE, ASYNC_OPTIONS_TYPE } =
  new ConfigurableModuleBuilder<SessionModuleOptions>({
    optionsInjectionToken: SESSION_MODULE_OPTIONS,
  })
    .setClassMethodName('forRoot')
    .setExtras({ isGlobal: true }, (definition, extras) => ({
      ...definition,
      global: extras.isGlobal,
    }))
    .build();
