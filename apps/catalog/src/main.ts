import { bootstrapService } from '@cloakroom/service-kit';

import { AppModule } from './app/app.module';

bootstrapService({ name: 'catalog', module: AppModule.forRoot(), port: 'CATALOG_PORT' });
