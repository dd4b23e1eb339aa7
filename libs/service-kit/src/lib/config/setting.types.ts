import { applyDecorators } from '@nestjs/common';
import { IsInt, IsNumber, IsPositive, Max, Min } from 'class-validator';

import { ToNumber } from './setting.decorator';

/** A TCP port, 0 to 65535 (0: any free port). */
export function IsPortSetting(): PropertyDecorator {
  return applyDecorators(ToNumber(), IsInt(), Min(0), Max(65535));
}

/** A duration in seconds: any positive number, so tests can run with fractions of one. */
export function IsSecondsSetting(): PropertyDecorator {
  return applyDecorators(ToNumber(), IsNumber(), IsPositive());
}
