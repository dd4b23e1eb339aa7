import { bootstrapService } from '@cloakroom/service-kit';

import { AppModule } from './app/app.module';
import { catalogService } from './app/app.setup';

bootstrapService({ ...catalogService, module: AppModule.forRoot(), port: 'CATALOG_PORT' });
