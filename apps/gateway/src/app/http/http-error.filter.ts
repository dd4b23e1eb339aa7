import {
  ArgumentsHost,
  Catch,
  ExceptionFilter,
  HttpException,
  HttpStatus,
  Logger,
} from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';

/** The body of every error answer: a status and a message, never a stack. */
export interface ErrorBody {
  statusCode: number;
  message: string;
  /** Health checks only: the status of each dependency. */
  details?: unknown;
}

/**
 * The one exception filter: HTTP exceptions keep their status and message, client errors
 * raised below Nest (malformed JSON, body too large) keep theirs, anything else is a logged
 * 500 whose answer says nothing about the cause.
 */
@Catch()
export class HttpErrorFilter implements ExceptionFilter {
  private readonly logger = new Logger(HttpErrorFilter.name);

  constructor(private readonly adapterHost: HttpAdapterHost) {}

  catch(exception: unknown, host: ArgumentsHost): void {
    const body = this.toBody(exception);
    if (body.statusCode >= 500 && !(exception instanceof HttpException)) {
      this.logger.error(exception instanceof Error ? exception.stack : String(exception));
    }
    const { httpAdapter } = this.adapterHost;
    httpAdapter.reply(host.switchToHttp().getResponse(), body, body.statusCode);
  }

  private toBody(exception: unknown): ErrorBody {
    if (exception instanceof HttpException) {
      const response = exception.getResponse();
      const statusCode = exception.getStatus();
      if (typeof response === 'string') {
        return { statusCode, message: response };
      }
      const { message, details } = response as { message?: unknown; details?: unknown };
      return {
        statusCode,
        message: messageOf(message) ?? exception.message,
        ...(details !== undefined && { details }),
      };
    }
    const status = (exception as { status?: unknown } | null)?.status;
    if (typeof status === 'number' && status >= 400 && status < 500) {
      return { statusCode: status, message: (exception as Error).message };
    }
    return { statusCode: HttpStatus.INTERNAL_SERVER_ERROR, message: 'Internal server error' };
  }
}

function messageOf(message: unknown): string | undefined {
  if (Array.isArray(message)) {
    return message.join('; ');
  }
  return typeof message === 'string' ? message : undefined;
}
