import { HttpException, HttpStatus } from '@nestjs/common';

/** 429 that tells the client, in a `Retry-After` header, when it may try again. */
export class TooManyAttemptsException extends HttpException {
  constructor(readonly retryAfterSeconds: number) {
    super('Too many failed attempts, try again later', HttpStatus.TOO_MANY_REQUESTS);
  }
}
