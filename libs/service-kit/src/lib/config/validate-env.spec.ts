import { IsBoolean, IsInt, IsOptional, IsString, Min } from 'class-validator';

import { StartupError } from '../bootstrap/startup.error';
import { ServiceEnv } from './service.env';
import { Setting, settingsOf, ToBoolean, ToNumber } from './setting.decorator';
import { validateEnv } from './validate-env';

class BaseEnv extends ServiceEnv {
  @Setting('How many widgets')
  @ToNumber()
  @IsInt()
  @Min(0)
  WIDGETS = 3;
}

class AppEnv extends BaseEnv {
  @Setting('Whether widgets shine')
  @IsOptional()
  @ToBoolean()
  @IsBoolean()
  SHINY?: boolean;

  @Setting('Name of the widget shop')
  @IsString()
  SHOP = 'corner';
}

describe('validateEnv', () => {
  it('applies defaults, types values and drops variables it does not declare', () => {
    const env = validateEnv(AppEnv, { WIDGETS: '7', SHINY: 'TRUE', PATH: '/bin' });
    expect(env).toBeInstanceOf(AppEnv);
    expect({ ...env }).toEqual({
      NODE_ENV: 'development',
      HTTP_HEADERS_TIMEOUT: 10,
      HTTP_REQUEST_TIMEOUT: 30,
      WIDGETS: 7,
      SHINY: true,
      SHOP: 'corner',
    });
    expect(validateEnv(AppEnv, { SHINY: 'false' }).SHINY).toBe(false);
  });

  it('reports every invalid variable in one line, as a StartupError', () => {
    const failure = (() => {
      try {
        return validateEnv(AppEnv, { WIDGETS: '-1', SHINY: 'maybe', NODE_ENV: 'staging' });
      } catch (error) {
        return error;
      }
    })();
    expect(failure).toBeInstanceOf(StartupError);
    const message = (failure as Error).message;
    expect(message.split('\n')).toHaveLength(1);
    expect(message).toMatch(/^invalid configuration: /);
    for (const name of ['WIDGETS', 'SHINY', 'NODE_ENV']) {
      expect(message).toContain(name);
    }
  });

  it('refuses a number that is not one', () => {
    expect(() => validateEnv(AppEnv, { WIDGETS: 'many' })).toThrow(/WIDGETS/);
    expect(() => validateEnv(AppEnv, { WIDGETS: '' })).toThrow(/WIDGETS/);
  });
});

describe('settingsOf', () => {
  it('lists every setting of a class and of the fragments it extends, described', () => {
    expect(settingsOf(AppEnv)).toEqual([
      { name: 'NODE_ENV', description: expect.any(String), default: 'development' },
      { name: 'HTTP_HEADERS_TIMEOUT', description: expect.any(String), default: 10 },
      { name: 'HTTP_REQUEST_TIMEOUT', description: expect.any(String), default: 30 },
      { name: 'WIDGETS', description: 'How many widgets', default: 3 },
      { name: 'SHINY', description: 'Whether widgets shine', default: undefined },
      { name: 'SHOP', description: 'Name of the widget shop', default: 'corner' },
    ]);
    expect(settingsOf(BaseEnv).map((setting) => setting.name)).toEqual([
      'NODE_ENV',
      'HTTP_HEADERS_TIMEOUT',
      'HTTP_REQUEST_TIMEOUT',
      'WIDGETS',
    ]);
  });
});
