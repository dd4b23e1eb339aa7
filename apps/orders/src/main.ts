import { bootstrapService } from '@cloakroom/service-kit';

import { AppModule } from './app/app.module';
import { ordersService } from './app/app.setup';

bootstrapService({ ...ordersService, module: AppModule.forRoot(), port: 'ORDERS_PORT' });
