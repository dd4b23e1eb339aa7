import { ArgumentsHost, BadRequestException, Logger, NotFoundException } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';

import { SessionStoreUnavailableError } from '@cloakroom/session';

import { HttpExceptionFilter } from './http-exception.filter';
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

describe('HttpExceptionFilter', () => {
  const filter = new HttpExceptionFilter(adapterHost);

  it('answers { statusCode, message } for HTTP exceptions, joining validation messages', () => {
    const { host, response } = hostWithResponse();
    filter.catch(new BadRequestException(['a is bad', 'b is bad']), host);
    expect(response.statusCode).toBe(400);
    expect(response.body).toEqual({ statusCode: 400, message: 'a is bad; b is bad' });

    const other = hostWithResponse();
    filter.catch(new NotFoundException('User not found'), other.host);
    expect(other.response.body).toEqual({ statusCode: 404, message: 'User not found' });
  });

  it('adds Retry-After to a 429', () => {
    const { host, response } = hostWithResponse();
    filter.catch(new TooManyAttemptsException(42), host);
    expect(response.statusCode).toBe(429);
    expect(response.headers['Retry-After']).toBe('42');
  });

  it('answers 503 when the session store is unavailable', () => {
    const { host, response } = hostWithResponse();
    filter.catch(new SessionStoreUnavailableError(), host);
    expect(response.body).toEqual({ statusCode: 503, message: 'Session store unavailable' });
  });

  it('hides the details of an unexpected error behind a plain 500', () => {
    const { host, response } = hostWithResponse();
    const logged = jest.spyOn(Logger.prototype, 'error').mockImplementation(() => undefined);
    filter.catch(new Error('database password is hunter2'), host);
    expect(logged).toHaveBeenCalledWith(expect.stringContaining('hunter2'));
    expect(response.statusCode).toBe(500);
    expect(response.body).toEqual({ statusCode: 500, message: 'Internal server error' });
  });
});
