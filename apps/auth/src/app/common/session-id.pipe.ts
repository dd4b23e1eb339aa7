import { Injectable, NotFoundException, PipeTransform } from '@nestjs/common';

import { parseSessionId } from '@cloakroom/session';

/**
 * A session id from the path, as the listings give it — never a token. The store would revoke
 * a token's session all the same, which invites clients to put tokens in URLs, where access
 * logs, proxies and browser histories keep them. Anything else is "not found", as the id of
 * someone else's session is.
 *
 * @example
 * revoke(@Param('id', SessionIdPipe) id: string) {}
 */
@Injectable()
export class SessionIdPipe implements PipeTransform<string, string> {
  transform(value: string): string {
    SessionIdPipe.check(value);
    return value;
  }

  /** For a handler that must check something else first: throws the pipe's 404. */
  static check(value: string): void {
    if (!parseSessionId(value)) {
      throw new NotFoundException('Session not found');
    }
  }
}
