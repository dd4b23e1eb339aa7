import { DynamicModule, Module } from '@nestjs/common';
import { APP_GUARD } from '@nestjs/core';

import { ServiceDatabaseModule } from '@cloakroom/database';
import { ServiceConfigModule } from '@cloakroom/service-kit';
import {
  ServiceHealthModule,
  sessionOptionsFromEnv,
  trustedAssertions,
} from '@cloakroom/service-sessions';
import { SessionGuard, SessionModule } from '@cloakroom/session';

import { CatalogEnv } from './config/catalog.env';
import { Product } from './products/entities/product.entity';
import { CreateProducts1764000000000 } from './products/migrations/1764000000000-create-products';
import { UniqueSkuAnyCase1765000000000 } from './products/migrations/1765000000000-unique-sku-any-case';
import { ProductsModule } from './products/products.module';

@Module({})
export class AppModule {
  /**
   * @param env settings that win over the environment (tests run several apps per process).
   */
  static forRoot(env: Record<string, string> = {}): DynamicModule {
    return {
      module: AppModule,
      imports: [
        ServiceConfigModule.forRoot(CatalogEnv, env),
        // Remote mode: catalog never touches Redis; each session check is one TCP call to
        // the auth service, which owns Redis.
        // Messages from orders act for a user's session: catalog accepts orders' signed session
        // assertions and checks each one's session through auth.
        SessionModule.forRootAsync({
          inject: [CatalogEnv],
          useFactory: (env: CatalogEnv) => ({
            ...sessionOptionsFromEnv(env),
            // Each message must come from its assertion's issuer, named by the client
            // certificate of its connection: a service holding orders' assertion (and its own
            // certificate of the deployment's CA) cannot send it as orders.
            assertions: {
              ...trustedAssertions(
                'catalog',
                'SESSION_ASSERTION_TRUST',
                env.SESSION_ASSERTION_TRUST,
              ),
              requirePeer: true,
            },
          }),
        }),
        ServiceDatabaseModule.forRoot({
          urlSetting: 'CATALOG_DATABASE_URL',
          entities: [Product],
          migrations: [CreateProducts1764000000000, UniqueSkuAnyCase1765000000000],
          migrationsTableName: 'catalog_migrations',
        }),
        ServiceHealthModule,
        ProductsModule,
      ],
      providers: [{ provide: APP_GUARD, useClass: SessionGuard }],
    };
  }
}
