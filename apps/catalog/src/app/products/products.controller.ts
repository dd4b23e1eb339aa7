import { IncomingMessage, ServerResponse } from 'node:http';
import { Body, Controller, Get, Post, Query, Req, Res } from '@nestjs/common';

import { nextPageLink } from '@cloakroom/service-kit';
import { Public, Roles } from '@cloakroom/session';

import { CreateProductDto } from './dto/create-product.dto';
import { ListProductsQuery } from './dto/list-products.query';
import { Product } from './entities/product.entity';
import { ProductsService } from './products.service';

@Controller('products')
export class ProductsController {
  constructor(private readonly products: ProductsService) {}

  /** An array, as before paging; the next page is in the `Link` header (RFC 8288). */
  @Get()
  @Public()
  async list(
    @Query() query: ListProductsQuery,
    @Req() request: IncomingMessage,
    @Res({ passthrough: true }) response: ServerResponse,
  ): Promise<Product[]> {
    const page = await this.products.list(query);
    if (page.next) {
      response.setHeader('Link', nextPageLink(request, { cursor: page.next, limit: query.limit }));
    }
    return page.items;
  }

  @Post()
  @Roles('admin')
  create(@Body() dto: CreateProductDto): Promise<Product> {
    return this.products.create(dto);
  }
}
