import 'reflect-metadata';
import { Type } from '@nestjs/common';
import { Transform } from 'class-transformer';

const SETTING = Symbol('cloakroom:setting');

/**
 * What a person configuring a service reads about one environment variable.
 *
 * @example
 * const rows = settingsOf(OrdersEnv).map(
 *   (setting: SettingDescription) => `| ${setting.name} | ${setting.description} |`,
 * );
 */
export interface SettingDescription {
  name: string;
  description: string;
  /** The value used when the variable is unset; `undefined` when there is none. */
  default: unknown;
}

/**
 * Declares a class property as an environment variable and says what it is for. Next to it:
 * the class-validator decorators (validation), the property type and initializer (type and
 * default), and {@link ToNumber} / {@link ToBoolean} for values that are not strings.
 *
 * @example
 * class OrdersEnv extends SessionRedisEnv {
 *   @Setting('HTTP port of the orders service')
 *   @ToNumber()
 *   @IsInt()
 *   @Min(0)
 *   @Max(65535)
 *   ORDERS_PORT = 3002;
 * }
 */
export function Setting(description: string): PropertyDecorator {
  return (target, property) => {
    const described: Record<string, string> = Reflect.getOwnMetadata(SETTING, target) ?? {
      ...Reflect.getMetadata(SETTING, target),
    };
    described[String(property)] = description;
    Reflect.defineMetadata(SETTING, described, target);
  };
}

/**
 * Every setting of an environment class, its fragments included, with its description and
 * default: the data a README table or a `--help` is made of.
 *
 * @example
 * settingsOf(OrdersEnv).find((setting) => setting.name === 'REDIS_URL')?.default;
 * // 'redis://127.0.0.1:6379'
 */
export function settingsOf(schema: Type<object>): SettingDescription[] {
  const described: Record<string, string> = Reflect.getMetadata(SETTING, schema.prototype) ?? {};
  const defaults = new schema() as Record<string, unknown>;
  return Object.entries(described).map(([name, description]) => ({
    name,
    description,
    default: defaults[name],
  }));
}

/**
 * Environment values are strings: turns a numeric one into a number (validated after).
 *
 * @example
 * @Setting('Days the security activity log keeps an event; older ones are deleted')
 * @ToNumber()
 * @IsInt()
 * @Min(1)
 * ACTIVITY_RETENTION_DAYS = 90;
 */
export function ToNumber(): PropertyDecorator {
  return Transform(({ value }) =>
    typeof value === 'string' && value.trim() !== '' ? Number(value) : value,
  );
}

/**
 * Turns `true` / `false` (any case) into a boolean; anything else is left to fail validation.
 *
 * @example
 * @Setting('Keep the raw User-Agent of new sessions; off: only the device label')
 * @ToBoolean()
 * @IsBoolean()
 * SESSION_KEEP_USER_AGENT = false;
 */
export function ToBoolean(): PropertyDecorator {
  return Transform(({ value }) => {
    const text = typeof value === 'string' ? value.trim().toLowerCase() : value;
    return text === 'true' ? true : text === 'false' ? false : value;
  });
}
