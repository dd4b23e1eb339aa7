import {
  ArgumentsHost,
  Catch,
  ExceptionFilter,
  HttpException,
  HttpStatus,
  Logger,
} from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import { Observable, throwError } from 'rxjs';

import { SessionStoreUnavailableError } from '@cloakroom/session';

import { TooManyAttemptsException } from './too-many-attempts.exception';

interface ErrorBody {
  statusCode: number;
  message: string;
  details?: unknown;
}

/**
 * The one error shape of the API, `{ statusCode, message }`: no stack, no framework internals,
 * and a 500 only for what really is a server fault (logged here, with its stack).
 */
@Catch()
export class HttpExceptionFilter implements ExceptionFilter {
  private readonly logger = new Logger('HttpExceptionFilter');

  constructor(private readonly adapterHost: HttpAdapterHost) {}

  catch(exception: unknown, host: ArgumentsHost): void | Observable<never> {
    if (host.getType() !== 'http') {
      // RPC errors travel back to the caller through the transport's own error channel.
      return throwError(() => exception);
    }
    const { httpAdapter } = this.adapterHost;
    const response = host.switchToHttp().getResponse();
    const body = this.toBody(exception);
    if (exception instanceof TooManyAttemptsException) {
      httpAdapter.setHeader(response, 'Retry-After', String(exception.retryAfterSeconds));
    }
    httpAdapter.reply(response, body, body.statusCode);
  }

  private toBody(exception: unknown): ErrorBody {
    if (exception instanceof HttpException) {
      const statusCode = exception.getStatus();
      const payload = exception.getResponse();
      if (typeof payload === 'string') {
        return { statusCode, message: payload };
      }
      // `details` is kept: the health check's 503 says there which dependency is down.
      const { message, details } = payload as { message?: unknown; details?: unknown };
      return {
        statusCode,
        message: Array.isArray(message)
          ? message.join('; ')
          : typeof message === 'string'
            ? message
            : exception.message,
        ...(details === undefined ? {} : { details }),
      };
    }
    if (exception instanceof SessionStoreUnavailableError) {
      return { statusCode: HttpStatus.SERVICE_UNAVAILABLE, message: 'Session store unavailable' };
    }
    // Errors raised by Express middleware (body parser) carry their status: a client's fault.
    const status = (exception as { status?: unknown } | null)?.status;
    if (typeof status === 'number' && status >= 400 && status < 500) {
      return { statusCode: status, message: (exception as Error).message };
    }
    this.logger.error(exception instanceof Error ? exception.stack : String(exception));
    return { statusCode: HttpStatus.INTERNAL_SERVER_ERROR, message: 'Internal server error' };
  }
}
