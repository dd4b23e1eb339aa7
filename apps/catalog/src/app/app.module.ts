import { Module } from '@nestjs/common';
import { ConfigModule, ConfigService } from '@nestjs/config';
import { APP_GUARD } from '@nestjs/core';
import { TypeOrmModule } from '@nestjs/typeorm';
import { DataSourceOptions } from 'typeorm';

import { SessionGuard, SessionModule } from '@cloakroom/session';

import { databaseOptions, openDataSource } from './config/database.options';
import { Env, envSchema } from './config/env.schema';
import { sessionOptions } from './config/session.options';
import { HealthModule } from './health/health.module';
import { ProductsModule } from './products/products.module';

@Module({
  imports: [
    ConfigModule.forRoot({
      isGlobal: true,
      ignoreEnvFile: true,
      validationSchema: envSchema,
      validationOptions: { abortEarly: false },
    }),
    SessionModule.forRootAsync({
      inject: [ConfigService],
      useFactory: (config: ConfigService<Env, true>) => sessionOptions(config),
    }),
    TypeOrmModule.forRootAsync({
      inject: [ConfigService],
      useFactory: (config: ConfigService<Env, true>) =>
        databaseOptions(config.get('CATALOG_DATABASE_URL')),
      dataSourceFactory: (options) => openDataSource(options as DataSourceOptions),
    }),
    HealthModule,
    ProductsModule,
  ],
  providers: [{ provide: APP_GUARD, useClass: SessionGuard }],
})
export class AppModule {}
