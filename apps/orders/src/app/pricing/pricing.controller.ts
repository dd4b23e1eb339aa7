import { Body, Controller, HttpCode, HttpStatus, Post } from '@nestjs/common';

import { CurrentSession, Roles, Session } from '@cloakroom/session';

import { CreateOrderDto } from '../orders/dto/create-order.dto';
import { PricingService, Quote } from './pricing.service';

@Controller('quote')
export class PricingController {
  constructor(private readonly pricing: PricingService) {}

  /** `POST /api/orders/quote`, the body of an order: what it would cost at catalog's prices. */
  @Post()
  @HttpCode(HttpStatus.OK)
  @Roles('customer')
  quote(@CurrentSession() session: Session, @Body() basket: CreateOrderDto): Promise<Quote> {
    return this.pricing.quote(session, basket);
  }
}
