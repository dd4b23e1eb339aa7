import { STATUS_CODES } from 'node:http';
import {
  ArgumentsHost,
  Catch,
  ExceptionFilter,
  HttpException,
  HttpStatus,
  Logger,
  NotFoundException,
} from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import { RpcException } from '@nestjs/microservices';
import { Observable, throwError } from 'rxjs';

import { isDatabaseUnavailable } from './database-unavailable';

/**
 * The body of every error answer: a status and a message, never a stack.
 *
 * @example
 * protected override toBody(exception: unknown): ErrorBody {
 *   return exception instanceof OutOfStockError
 *     ? { statusCode: 409, message: exception.message, error: 'out_of_stock' }
 *     : super.toBody(exception);
 * }
 */
export interface ErrorBody {
  statusCode: number;
  message: string;
  /** Health checks only: the status of each dependency. */
  details?: unknown;
  /** A machine-readable code, when the exception gave one (`reauthentication_required`). */
  error?: string;
}

/**
 * What an exception's `error` must look like to be passed on: a snake_case code. Nest's own
 * labels (`'Bad Request'`, `'Unauthorized'`) repeat the status and are dropped.
 */
const ERROR_CODE = /^[a-z][a-z0-9_]{0,63}$/;

/** A database outage is logged at most this often (requests answer 503 all the while). */
const DATABASE_OUTAGE_LOG_INTERVAL_MS = 10_000;

/**
 * The one error shape of an API, `{ statusCode, message }`: HTTP exceptions keep their status
 * and message (a path no route serves is a plain `Not Found`, which never quotes the URL),
 * client errors raised below Nest (malformed JSON, body too large) keep theirs,
 * a database that cannot be reached or does not answer in time is a 503 `database_unavailable`
 * (logged in one line every 10 s at most), anything else is a 500 that is logged with its stack
 * and answered without a word about the cause. `toBody` is `protected` so that an app can map
 * its own errors by subclassing.
 *
 * @example
 * app.useGlobalFilters(new HttpErrorFilter(app.get(HttpAdapterHost)));
 */
@Catch()
export class HttpErrorFilter implements ExceptionFilter {
  private readonly logger = new Logger(HttpErrorFilter.name);
  private outageLoggedAt = -Infinity;
  private outagesSince = 0;

  constructor(protected readonly adapterHost: HttpAdapterHost) {}

  catch(exception: unknown, host: ArgumentsHost): void | Observable<never> {
    const type = host.getType<'http' | 'rpc' | 'ws' | 'graphql'>();
    if (type === 'graphql') {
      // Thrown back to the GraphQL driver, which answers it in `errors` with its
      // `extensions.code`; an Observable would become the resolver's value instead.
      throw exception;
    }
    if (type === 'rpc') {
      return throwError(() => this.toRpcError(exception));
    }
    if (type !== 'http') {
      return throwError(() => exception);
    }
    const body = this.toBody(
      this.isRouteNotFound(exception, host) ? new NotFoundException('Not Found') : exception,
    );
    const { httpAdapter } = this.adapterHost;
    httpAdapter.reply(host.switchToHttp().getResponse(), body, body.statusCode);
  }

  /**
   * Nest's answer to a path no route serves, `Cannot GET <the URL as sent>`: it quotes the
   * path and query string back, a token a client put there included. Told apart from a route's
   * own 404 by that exact message for this request.
   */
  private isRouteNotFound(exception: unknown, host: ArgumentsHost): boolean {
    if (!(exception instanceof NotFoundException)) {
      return false;
    }
    const { httpAdapter } = this.adapterHost;
    const request: unknown = host.switchToHttp().getRequest();
    const sent = `Cannot ${httpAdapter.getRequestMethod(request)} ${httpAdapter.getRequestUrl(request)}`;
    return exception.message === sent;
  }

  /**
   * What a microservice caller receives, through the transport's own error channel: an
   * `RpcException`'s error as is (a string as `{ status: 'error', message }`, as Nest's own RPC
   * filter sends it), anything else as `{ status, message, error? }` from `toBody` — a 400 of
   * the validation pipe stays a 400, the unexpected is a logged 500 without a word of its cause.
   */
  protected toRpcError(exception: unknown): object {
    if (exception instanceof RpcException) {
      const error = exception.getError();
      return typeof error === 'object' && error !== null
        ? error
        : { status: 'error', message: String(error) };
    }
    const { statusCode, message, error } = this.toBody(exception);
    return { status: statusCode, message, ...(error !== undefined && { error }) };
  }

  protected toBody(exception: unknown): ErrorBody {
    if (exception instanceof HttpException) {
      const response = exception.getResponse();
      const statusCode = exception.getStatus();
      if (typeof response === 'string') {
        return { statusCode, message: response };
      }
      // `details` is kept: a health check's 503 says there which dependency is down; so is a
      // machine-readable `error` code, which clients act on (ask for the password again).
      const { message, details, error } = response as {
        message?: unknown;
        details?: unknown;
        error?: unknown;
      };
      return {
        statusCode,
        message: messageOf(message) ?? exception.message,
        ...(details !== undefined && { details }),
        ...(typeof error === 'string' && ERROR_CODE.test(error) && { error }),
      };
    }
    // Errors raised by Express middleware carry their status: a client's fault. Their
    // messages can quote the request: never sent back.
    const status = (exception as { status?: unknown } | null)?.status;
    if (typeof status === 'number' && status >= 400 && status < 500) {
      return { statusCode: status, message: STATUS_CODES[status] ?? 'Bad Request' };
    }
    if (isDatabaseUnavailable(exception)) {
      this.reportDatabaseOutage(exception);
      return {
        statusCode: HttpStatus.SERVICE_UNAVAILABLE,
        message: 'Database unavailable',
        error: 'database_unavailable',
      };
    }
    this.logger.error(exception instanceof Error ? exception.stack : String(exception));
    return { statusCode: HttpStatus.INTERNAL_SERVER_ERROR, message: 'Internal server error' };
  }

  /** One warning line (no stack) per `DATABASE_OUTAGE_LOG_INTERVAL_MS`, with the count since. */
  private reportDatabaseOutage(exception: unknown): void {
    // Monotonic: a host clock set back would otherwise silence the outage for as long.
    const now = performance.now();
    if (now - this.outageLoggedAt < DATABASE_OUTAGE_LOG_INTERVAL_MS) {
      this.outagesSince++;
      return;
    }
    const more = this.outagesSince ? ` (${this.outagesSince} more since the last line)` : '';
    this.logger.warn(`Database unavailable: ${(exception as Error)?.message ?? exception}${more}`);
    this.outageLoggedAt = now;
    this.outagesSince = 0;
  }
}

function messageOf(message: unknown): string | undefined {
  if (Array.isArray(message)) {
    return message.join('; ');
  }
  return typeof message === 'string' ? message : undefined;
}
