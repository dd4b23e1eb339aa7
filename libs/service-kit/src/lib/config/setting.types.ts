import { applyDecorators } from '@nestjs/common';
import { IsInt, IsNumber, IsPositive, Max, Min } from 'class-validator';

import { ToNumber } from './setting.decorator';

/**
 * A TCP port, 0 to 65535 (0: any free port).
 *
 * @example
 * @Setting('HTTP port of the orders service')
 * @IsPortSetting()
 * ORDERS_PORT = 3002;
 */
export function IsPortSetting(): PropertyDecorator {
  return applyDecorators(ToNumber(), IsInt(), Min(0), Max(65535));
}

/**
 * A duration in seconds: any positive number, so tests can run with fractions of one.
 *
 * @example
 * @Setting('Seconds a price quote from catalog may take before the request answers 503')
 * @IsSecondsSetting()
 * CATALOG_RPC_TIMEOUT = 2;
 */
export function IsSecondsSetting(): PropertyDecorator {
  return applyDecorators(ToNumber(), IsNumber(), IsPositive());
}
