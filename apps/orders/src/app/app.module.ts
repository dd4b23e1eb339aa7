import { ApolloDriver, ApolloDriverConfig } from '@nestjs/apollo';
import { DynamicModule, Module } from '@nestjs/common';
import { APP_GUARD } from '@nestjs/core';
import { GraphQLModule } from '@nestjs/graphql';

import { ServiceDatabaseModule } from '@cloakroom/database';
import { ServiceConfigModule } from '@cloakroom/service-kit';
import {
  ServiceHealthModule,
  sessionOptionsFromEnv,
  signingAssertions,
} from '@cloakroom/service-sessions';
import { SessionGuard, SessionModule } from '@cloakroom/session';

import { OrdersEnv } from './config/orders.env';
import { graphqlOptions } from './graphql/graphql.options';
import { Order } from './orders/entities/order.entity';
import { CreateOrders1764000000000 } from './orders/migrations/1764000000000-create-orders';
import { PageOrders1764800000000 } from './orders/migrations/1764800000000-page-orders';
import { OrderIdempotencyKeys1765100000000 } from './orders/migrations/1765100000000-order-idempotency-keys';
import { OrdersModule } from './orders/orders.module';
import { PricingModule } from './pricing/pricing.module';

@Module({})
export class AppModule {
  /**
   * @param env settings that win over the environment (tests run several apps per process).
   */
  static forRoot(env: Record<string, string> = {}): DynamicModule {
    return {
      module: AppModule,
      imports: [
        ServiceConfigModule.forRoot(OrdersEnv, env),
        // Direct mode: orders reads sessions straight from Redis, one round trip per request.
        // Orders signs session assertions: its messages to catalog act for the user's session.
        SessionModule.forRootAsync({
          inject: [OrdersEnv],
          useFactory: (env: OrdersEnv) => ({
            ...sessionOptionsFromEnv(env),
            assertions: signingAssertions(
              'orders',
              { SESSION_ASSERTION_KEY: env.SESSION_ASSERTION_KEY },
              env.SESSION_ASSERTION_KEY_ID,
            ),
          }),
        }),
        ServiceDatabaseModule.forRoot({
          urlSetting: 'ORDERS_DATABASE_URL',
          entities: [Order],
          migrations: [
            CreateOrders1764000000000,
            PageOrders1764800000000,
            OrderIdempotencyKeys1765100000000,
          ],
          migrationsTableName: 'orders_migrations',
        }),
        GraphQLModule.forRootAsync<ApolloDriverConfig>({
          driver: ApolloDriver,
          inject: [OrdersEnv],
          useFactory: graphqlOptions,
        }),
        // Before OrdersModule, so that /api/orders/health is not taken for an order id.
        ServiceHealthModule,
        PricingModule,
        OrdersModule,
      ],
      providers: [{ provide: APP_GUARD, useClass: SessionGuard }],
    };
  }
}
