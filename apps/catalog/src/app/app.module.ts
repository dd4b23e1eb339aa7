import { Module } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { APP_GUARD } from '@nestjs/core';

import { ServiceDatabaseModule } from '@cloakroom/database';
import { EnvConfigModule } from '@cloakroom/service-kit';
import { SessionGuard, SessionModule } from '@cloakroom/session';

import { envSchema } from './config/env.schema';
import { sessionOptions } from './config/session.options';
import { HealthModule } from './health/health.module';
import { Product } from './products/entities/product.entity';
import { CreateProducts1764000000000 } from './products/migrations/1764000000000-create-products';
import { ProductsModule } from './products/products.module';

@Module({
  imports: [
    EnvConfigModule.forRoot(envSchema),
    SessionModule.forRootAsync({ inject: [ConfigService], useFactory: sessionOptions }),
    ServiceDatabaseModule.forRoot({
      urlSetting: 'CATALOG_DATABASE_URL',
      entities: [Product],
      migrations: [CreateProducts1764000000000],
      migrationsTableName: 'catalog_migrations',
    }),
    HealthModule,
    ProductsModule,
  ],
  providers: [{ provide: APP_GUARD, useClass: SessionGuard }],
})
export class AppModule {}
