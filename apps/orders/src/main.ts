import { bootstrapService } from '@cloakroom/service-kit';

import { AppModule } from './app/app.module';

bootstrapService({ name: 'orders', module: AppModule.forRoot(), port: 'ORDERS_PORT' });
