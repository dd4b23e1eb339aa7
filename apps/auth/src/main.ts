import { bootstrapService } from '@cloakroom/service-kit';

import { AppModule } from './app/app.module';
import { authService } from './app/app.setup';

bootstrapService({ ...authService, module: AppModule.forRoot(), port: 'AUTH_PORT' });
