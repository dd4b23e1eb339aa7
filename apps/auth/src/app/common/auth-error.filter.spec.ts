import { ArgumentsHost, BadRequestException, Logger } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import { lastValueFrom, Observable } from 'rxjs';

import { SessionStoreUnavailableError, SessionUserChangedError } from '@cloakroom/session';

import { AuthErrorFilter } from './auth-error.filter';
import { PasswordWorkBusyException } from './password-work-busy.exception';
import { TooManyAttemptsException } from './too-many-attempts.exception';

interface FakeResponse {
  headers: Record<string, string>;
  statusCode: number;
  body: unknown;
}

/** Records what the filter asks the HTTP adapter to send. */
const adapterHost = {
  httpAdapter: {
    setHeader: (response: FakeResponse, name: string, value: string) => {
      response.headers[name] = value;
    },
    reply: (response: FakeResponse, body: unknown, statusCode: number) => {
      response.body = body;
      response.statusCode = statusCode;
    },
  },
} as unknown as HttpAdapterHost;

function hostWithResponse() {
  const response: FakeResponse = { headers: {}, statusCode: 0, body: undefined };
  const host = {
    getType: () => 'http',
    switchToHttp: () => ({ getResponse: () => response }),
  } as unknown as ArgumentsHost;
  return { host, response };
}

describe('AuthErrorFilter', () => {
  const filter = new AuthErrorFilter(adapterHost);

  it('answers { statusCode, message } like every service', () => {
    const { host, response } = hostWithResponse();
    filter.catch(new BadRequestException(['a is bad', 'b is bad']), host);
    expect(response.statusCode).toBe(400);
    expect(response.body).toEqual({ statusCode: 400, message: 'a is bad; b is bad' });
  });

  it('adds Retry-After to a 429', () => {
    const { host, response } = hostWithResponse();
    filter.catch(new TooManyAttemptsException(42), host);
    expect(response.statusCode).toBe(429);
    expect(response.headers['Retry-After']).toBe('42');
  });

  it('adds Retry-After: 1 to the 503 of saturated password hashing', () => {
    const { host, response } = hostWithResponse();
    filter.catch(new PasswordWorkBusyException(), host);
    expect(response.statusCode).toBe(503);
    expect(response.headers['Retry-After']).toBe('1');
    expect(response.body).toEqual({ statusCode: 503, message: expect.any(String) });
  });

  it('adds Retry-After: 1 to the 503 of a login whose account kept changing', () => {
    const { host, response } = hostWithResponse();
    filter.catch(new SessionUserChangedError(), host);
    expect(response.statusCode).toBe(503);
    expect(response.headers['Retry-After']).toBe('1');
  });

  it('answers 503 when the session store is unavailable, without logging it, like every service', () => {
    const { host, response } = hostWithResponse();
    const logged = jest.spyOn(Logger.prototype, 'error').mockImplementation(() => undefined);
    filter.catch(new SessionStoreUnavailableError(), host);
    expect(response.body).toEqual({ statusCode: 503, message: 'Session store unavailable' });
    expect(logged).not.toHaveBeenCalled();
    logged.mockRestore();
  });

  it('hands RPC errors back to the transport with their status', async () => {
    const rpcHost = { getType: () => 'rpc' } as unknown as ArgumentsHost;
    const error = new TooManyAttemptsException(1);
    const result = filter.catch(error, rpcHost) as Observable<never>;
    await expect(lastValueFrom(result)).rejects.toEqual({
      status: 429,
      message: 'Too many failed attempts, try again later',
    });
  });
});
