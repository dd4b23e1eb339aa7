import { Logger } from '@nestjs/common';

import { exitOnStartupFailure } from './startup-failure.handler';
import { StartupError } from './startup.error';

describe('exitOnStartupFailure', () => {
  let written: jest.SpyInstance;
  let printed: jest.SpyInstance;
  let flushed: jest.SpyInstance;
  let exited: jest.SpyInstance;

  beforeEach(() => {
    written = jest.spyOn(process.stderr, 'write').mockImplementation(() => true);
    printed = jest.spyOn(console, 'error').mockImplementation(() => undefined);
    flushed = jest.spyOn(Logger, 'flush').mockImplementation(() => undefined);
    exited = jest.spyOn(process, 'exit').mockImplementation(() => undefined as never);
  });

  afterEach(() => jest.restoreAllMocks());

  it('prints the first line of a StartupError after the service name, no logs, and exits 1', () => {
    exitOnStartupFailure('orders', new StartupError('Redis is not reachable\nsecond line'));
    expect(written).toHaveBeenCalledWith('orders: cannot start: Redis is not reachable\n');
    expect(flushed).not.toHaveBeenCalled();
    expect(printed).not.toHaveBeenCalled();
    expect(exited).toHaveBeenCalledWith(1);
  });

  it('prints the buffered logs and the error with its stack when the failure is unexpected', () => {
    const surprise = new TypeError('cannot read properties of undefined');
    exitOnStartupFailure('catalog', surprise);
    expect(flushed).toHaveBeenCalled();
    expect(printed).toHaveBeenCalledWith(surprise);
    expect(written).not.toHaveBeenCalled();
    expect(exited).toHaveBeenCalledWith(1);
  });
});
