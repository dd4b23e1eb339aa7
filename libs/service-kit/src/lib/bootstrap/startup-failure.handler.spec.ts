import { Logger } from '@nestjs/common';

import { exitOnStartupFailure, listenFailure } from './startup-failure.handler';
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

  it.each([
    ['EADDRINUSE', 'port 4003 is taken: another process listens on it (EADDRINUSE)'],
    ['EACCES', 'port 4003 needs privileges this process lacks (EACCES)'],
    ['EADDRNOTAVAIL', '10.9.9.9 is not an address of this host (EADDRNOTAVAIL)'],
    ['EINVAL', 'cannot listen on port 4003 (EINVAL)'],
  ])('prints one line, no logs, for a port it cannot listen on (%s)', (code, line) => {
    const error = Object.assign(new Error(`listen ${code}`), {
      code,
      syscall: 'listen',
      address: '10.9.9.9',
      port: 4003,
    });
    exitOnStartupFailure('catalog', error);
    expect(written).toHaveBeenCalledWith(`catalog: cannot start: ${line}\n`);
    expect(flushed).not.toHaveBeenCalled();
    expect(printed).not.toHaveBeenCalled();
    expect(exited).toHaveBeenCalledWith(1);
  });

  it('takes an EADDRINUSE of another system call for a surprise', () => {
    const error = Object.assign(new Error('connect EADDRINUSE'), {
      code: 'EADDRINUSE',
      syscall: 'connect',
    });
    exitOnStartupFailure('orders', error);
    expect(printed).toHaveBeenCalledWith(error);
    expect(written).not.toHaveBeenCalled();
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

describe('listenFailure', () => {
  const failure = (code: string, syscall = 'listen') =>
    Object.assign(new Error(`${syscall} ${code}`), {
      code,
      syscall,
      address: '10.9.9.9',
      port: 4003,
    });
  const settings = { port: 'CATALOG_RPC_PORT', host: 'CATALOG_RPC_LISTEN_HOST' };

  it.each([
    [
      'EADDRINUSE',
      'port 4003 is taken: another process listens on it (EADDRINUSE); set CATALOG_RPC_PORT',
    ],
    ['EACCES', 'port 4003 needs privileges this process lacks (EACCES); set CATALOG_RPC_PORT'],
    [
      'EADDRNOTAVAIL',
      '10.9.9.9 is not an address of this host (EADDRNOTAVAIL); set CATALOG_RPC_LISTEN_HOST',
    ],
  ])('ends the line of %s with the setting to change', (code, line) => {
    expect(listenFailure(failure(code), settings)).toBe(line);
  });

  it('names no setting for an address of a server that listens on every address', () => {
    expect(listenFailure(failure('EADDRNOTAVAIL'), { port: 'ORDERS_PORT' })).toBe(
      '10.9.9.9 is not an address of this host (EADDRNOTAVAIL)',
    );
  });

  it.each([null, undefined, 'EADDRINUSE', failure('EADDRINUSE', 'connect')])(
    'is undefined for what is no failure to listen (%p)',
    (error) => {
      expect(listenFailure(error, settings)).toBeUndefined();
    },
  );
});
