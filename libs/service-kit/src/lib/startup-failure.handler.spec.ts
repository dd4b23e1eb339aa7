import { exitOnStartupFailure } from './startup-failure.handler';
import { StartupError } from './startup.error';

describe('exitOnStartupFailure', () => {
  let written: jest.SpyInstance;
  let exited: jest.SpyInstance;

  beforeEach(() => {
    written = jest.spyOn(process.stderr, 'write').mockImplementation(() => true);
    exited = jest.spyOn(process, 'exit').mockImplementation(() => undefined as never);
  });

  afterEach(() => jest.restoreAllMocks());

  it('prints the first line of the message after the service name, and exits 1', () => {
    exitOnStartupFailure('orders')(new StartupError('Redis is not reachable\nsecond line'));
    expect(written).toHaveBeenCalledWith('orders: cannot start: Redis is not reachable\n');
    expect(exited).toHaveBeenCalledWith(1);
  });

  it('prints what was thrown when it is not an Error', () => {
    exitOnStartupFailure('catalog')('port taken');
    expect(written).toHaveBeenCalledWith('catalog: cannot start: port taken\n');
  });
});
