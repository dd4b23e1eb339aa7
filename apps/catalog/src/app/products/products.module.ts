import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';

import { Product } from './entities/product.entity';
import { ProductsController } from './products.controller';
import { ProductsMessages } from './products.messages';
import { ProductsSeeder } from './products.seeder';
import { ProductsService } from './products.service';

@Module({
  imports: [TypeOrmModule.forFeature([Product])],
  controllers: [ProductsController, ProductsMessages],
  providers: [ProductsService, ProductsSeeder],
})
export class ProductsModule {}
