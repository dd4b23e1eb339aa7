import { GatewayTimeoutException } from '@nestjs/common';

/**
 * A change whose write, or whose put-back, the database lost the answer to, and that could
 * not be asked again in time: it may stand or not. A 504 (the database did not answer in
 * time), never a 503, which promises that nothing changed, nor a 500, which says nothing. The
 * row says which, and the sessions are brought in line with the row (`AccessSync`) whichever
 * it is.
 */
export class OutcomeUnknownException extends GatewayTimeoutException {
  constructor(what: string, cause: unknown) {
    super(
      {
        message: `The database stopped answering: whether ${what} was saved is not known. Look before trying again`,
        error: 'outcome_unknown',
      },
      { cause },
    );
  }
}
