import { Module } from '@nestjs/common';

import { PricingController } from './pricing.controller';
import { PricingService } from './pricing.service';

/** Price quotes from catalog, asked over its RPC on the shopper's behalf. */
@Module({
  controllers: [PricingController],
  providers: [PricingService],
})
export class PricingModule {}
