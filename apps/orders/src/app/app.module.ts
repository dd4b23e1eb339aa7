import { Module } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { APP_GUARD } from '@nestjs/core';

import { ServiceDatabaseModule } from '@cloakroom/database';
import { EnvConfigModule } from '@cloakroom/service-kit';
import { SessionGuard, SessionModule } from '@cloakroom/session';

import { envSchema } from './config/env.schema';
import { sessionOptions } from './config/session.options';
import { HealthModule } from './health/health.module';
import { Order } from './orders/entities/order.entity';
import { CreateOrders1764000000000 } from './orders/migrations/1764000000000-create-orders';
import { OrdersModule } from './orders/orders.module';

@Module({
  imports: [
    EnvConfigModule.forRoot(envSchema),
    SessionModule.forRootAsync({ inject: [ConfigService], useFactory: sessionOptions }),
    ServiceDatabaseModule.forRoot({
      urlSetting: 'ORDERS_DATABASE_URL',
      entities: [Order],
      migrations: [CreateOrders1764000000000],
      migrationsTableName: 'orders_migrations',
    }),
    // Before OrdersModule, so that /orders/health is not taken for an order id.
    HealthModule,
    OrdersModule,
  ],
  providers: [{ provide: APP_GUARD, useClass: SessionGuard }],
})
export class AppModule {}
