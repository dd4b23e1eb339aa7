import { Injectable, ValidationPipe, ValidationPipeOptions } from '@nestjs/common';

/** One validation policy for every body: unknown fields are refused, not silently dropped. */
export const VALIDATION_OPTIONS: ValidationPipeOptions = {
  whitelist: true,
  forbidNonWhitelisted: true,
  transform: true,
};

/** The global pipe (bound as APP_PIPE). */
@Injectable()
export class AppValidationPipe extends ValidationPipe {
  constructor() {
    super(VALIDATION_OPTIONS);
  }
}
