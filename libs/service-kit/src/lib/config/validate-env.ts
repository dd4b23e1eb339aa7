import { Type } from '@nestjs/common';
import { plainToInstance } from 'class-transformer';
import { ValidationError, validateSync } from 'class-validator';

import { StartupError } from '../bootstrap/startup.error';

/**
 * Reads an environment class out of raw variables: defaults applied, values typed, unknown
 * variables dropped. Every problem is reported at once, in one line, as a
 * {@link StartupError}.
 *
 * @example
 * const env = validateEnv(OrdersEnv, process.env);
 * env.ORDERS_PORT; // 3002 unless ORDERS_PORT says otherwise
 */
export function validateEnv<T extends object>(schema: Type<T>, raw: Record<string, unknown>): T {
  const env = plainToInstance(schema, raw, { exposeDefaultValues: true });
  // `whitelist` drops every variable the class does not declare (PATH, HOME, ...).
  const errors = validateSync(env, { whitelist: true });
  if (errors.length > 0) {
    throw new StartupError(`invalid configuration: ${errors.flatMap(messagesOf).join('; ')}`);
  }
  return env;
}

function messagesOf(error: ValidationError): string[] {
  return Object.values(error.constraints ?? {});
}
