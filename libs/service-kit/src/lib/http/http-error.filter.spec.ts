import {
  ArgumentsHost,
  BadRequestException,
  Logger,
  NotFoundException,
  ServiceUnavailableException,
  UnauthorizedException,
} from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import { RpcException } from '@nestjs/microservices';
import { lastValueFrom, Observable } from 'rxjs';

import { HttpErrorFilter } from './http-error.filter';

interface FakeResponse {
  statusCode: number;
  body: unknown;
}

/** Records what the filter asks the HTTP adapter to send. */
const adapterHost = {
  httpAdapter: {
    reply: (response: FakeResponse, body: unknown, statusCode: number) => {
      response.body = body;
      response.statusCode = statusCode;
    },
    getRequestMethod: (request: { method: string }) => request.method,
    getRequestUrl: (request: { originalUrl: string }) => request.originalUrl,
  },
} as unknown as HttpAdapterHost;

function answerTo(exception: unknown): FakeResponse {
  const response: FakeResponse = { statusCode: 0, body: undefined };
  const host = {
    getType: () => 'http',
    switchToHttp: () => ({
      getResponse: () => response,
      getRequest: () => ({ method: 'GET', originalUrl: '/api/users/42' }),
    }),
  } as unknown as ArgumentsHost;
  new HttpErrorFilter(adapterHost).catch(exception, host);
  return response;
}

describe('HttpErrorFilter', () => {
  let logged: jest.SpyInstance;

  beforeEach(() => {
    logged = jest.spyOn(Logger.prototype, 'error').mockImplementation(() => undefined);
  });

  afterEach(() => logged.mockRestore());

  it('answers { statusCode, message } for HTTP exceptions, joining validation messages', () => {
    expect(answerTo(new BadRequestException(['a is bad', 'b is bad']))).toEqual({
      statusCode: 400,
      body: { statusCode: 400, message: 'a is bad; b is bad' },
    });
    expect(answerTo(new NotFoundException('User not found')).body).toEqual({
      statusCode: 404,
      message: 'User not found',
    });
    expect(logged).not.toHaveBeenCalled();
  });

  it('keeps the details of a health check', () => {
    const details = { redis: { status: 'down' } };
    const exception = new ServiceUnavailableException({ message: 'down', details });
    expect(answerTo(exception).body).toEqual({ statusCode: 503, message: 'down', details });
  });

  it('keeps a machine-readable error code and drops the status labels Nest adds', () => {
    const reauth = new UnauthorizedException({
      statusCode: 401,
      message: 'Recent authentication required',
      error: 'reauthentication_required',
    });
    expect(answerTo(reauth).body).toEqual({
      statusCode: 401,
      message: 'Recent authentication required',
      error: 'reauthentication_required',
    });
    expect(answerTo(new UnauthorizedException('Authentication required')).body).toEqual({
      statusCode: 401,
      message: 'Authentication required',
    });
    const hostile = new BadRequestException({ message: 'x', error: '<script>alert(1)</script>' });
    expect(answerTo(hostile).body).toEqual({ statusCode: 400, message: 'x' });
  });

  it('keeps the status of a client error raised below Nest, answering a fixed message', () => {
    const parseError = Object.assign(new SyntaxError(`Unexpected token 's', "secret" is not`), {
      status: 400,
    });
    expect(answerTo(parseError).body).toEqual({ statusCode: 400, message: 'Bad Request' });
    const unknown = Object.assign(new Error('echo <script>'), { status: 415 });
    expect(answerTo(unknown).body).toEqual({
      statusCode: 415,
      message: 'Unsupported Media Type',
    });
  });

  it('hides an unexpected error behind a plain 500 and logs its stack', () => {
    const response = answerTo(new Error('database password is hunter2'));
    expect(response).toEqual({
      statusCode: 500,
      body: { statusCode: 500, message: 'Internal server error' },
    });
    expect(logged).toHaveBeenCalledWith(expect.stringContaining('hunter2'));
  });

  it('answers 503 database_unavailable when the database cannot be reached or does not answer', () => {
    const warned = jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
    // What pg and TypeORM throw: a refused or lost connection, a query unanswered in time, a
    // pool that could not connect in time, a server shutting down (as TypeORM wraps it).
    const outages = [
      Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' }),
      new Error('Connection terminated unexpectedly'),
      Object.assign(new Error('Query read timeout'), { name: 'QueryFailedError' }),
      new Error('timeout exceeded when trying to connect'),
      Object.assign(new Error('terminating connection due to administrator command'), {
        driverError: { code: '57P01' },
      }),
      Object.assign(new Error('the database system is starting up'), { code: '57P03' }),
      Object.assign(new Error('server closed the connection'), { code: '08006' }),
    ];
    const filter = new HttpErrorFilter(adapterHost);
    for (const outage of outages) {
      const response: FakeResponse = { statusCode: 0, body: undefined };
      const host = {
        getType: () => 'http',
        switchToHttp: () => ({
          getResponse: () => response,
          getRequest: () => ({ method: 'GET', originalUrl: '/api/users/42' }),
        }),
      } as unknown as ArgumentsHost;
      filter.catch(outage, host);
      expect(response).toEqual({
        statusCode: 503,
        body: { statusCode: 503, message: 'Database unavailable', error: 'database_unavailable' },
      });
    }
    expect(logged).not.toHaveBeenCalled();
    // One line for the outage, not one per request.
    expect(warned).toHaveBeenCalledTimes(1);
    warned.mockRestore();
  });

  it('says an outage again once its interval has passed, even if the host clock was set back', () => {
    jest.useFakeTimers();
    const warned = jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
    try {
      const filter = new HttpErrorFilter(adapterHost);
      const outage = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), {
        code: 'ECONNREFUSED',
      });
      const fail = () => {
        const response: FakeResponse = { statusCode: 0, body: undefined };
        filter.catch(outage, {
          getType: () => 'http',
          switchToHttp: () => ({
            getResponse: () => response,
            getRequest: () => ({ method: 'GET', originalUrl: '/api/users/42' }),
          }),
        } as unknown as ArgumentsHost);
        expect(response.statusCode).toBe(503);
      };
      fail();
      jest.setSystemTime(Date.now() - 3_600_000);
      jest.advanceTimersByTime(5_000);
      fail();
      expect(warned).toHaveBeenCalledTimes(1);
      jest.advanceTimersByTime(5_001);
      fail();
      expect(warned).toHaveBeenCalledTimes(2);
      expect(String(warned.mock.calls[1][0])).toContain('(1 more since the last line)');
    } finally {
      warned.mockRestore();
      jest.useRealTimers();
    }
  });

  it('keeps a query the database refused a 500: a unique violation, a syntax error', () => {
    for (const refused of [
      Object.assign(new Error('duplicate key value violates unique constraint'), {
        driverError: { code: '23505' },
      }),
      Object.assign(new Error('syntax error at or near "SELEC"'), { code: '42601' }),
    ]) {
      expect(answerTo(refused).statusCode).toBe(500);
    }
  });

  it('throws GraphQL errors back to the driver, which answers them with extensions.code', () => {
    const host = { getType: () => 'graphql' } as unknown as ArgumentsHost;
    const exception = new UnauthorizedException('Authentication required');
    expect(() => new HttpErrorFilter(adapterHost).catch(exception, host)).toThrow(exception);
  });

  describe('on a microservice message', () => {
    const host = { getType: () => 'rpc' } as unknown as ArgumentsHost;
    const answer = (exception: unknown) =>
      lastValueFrom(new HttpErrorFilter(adapterHost).catch(exception, host) as Observable<never>);

    it("hands an RpcException's error back to the caller as is", async () => {
      const error = { status: 401, error: 'unauthenticated', message: 'no' };
      await expect(answer(new RpcException(error))).rejects.toBe(error);
      await expect(answer(new RpcException('Malformed'))).rejects.toEqual({
        status: 'error',
        message: 'Malformed',
      });
    });

    it('keeps the status of an HTTP exception (a validation 400)', async () => {
      await expect(answer(new BadRequestException(['skus must be an array']))).rejects.toEqual({
        status: 400,
        message: 'skus must be an array',
      });
    });

    it('answers the unexpected with a 500 that says nothing of its cause, and logs it', async () => {
      const logged = jest.spyOn(Logger.prototype, 'error').mockImplementation(() => undefined);
      await expect(answer(new Error('secret detail'))).rejects.toEqual({
        status: 500,
        message: 'Internal server error',
      });
      expect(logged).toHaveBeenCalledWith(expect.stringContaining('secret detail'));
    });
  });
});
