import { join } from 'node:path';

import { bootstrapService } from '@cloakroom/service-kit';

import { AppModule } from './app/app.module';
import { gatewayService } from './app/app.setup';

bootstrapService({
  // The build copies src/assets next to main.js.
  ...gatewayService(join(__dirname, 'assets', 'web')),
  module: AppModule.forRoot(),
  port: 'PORT',
});
