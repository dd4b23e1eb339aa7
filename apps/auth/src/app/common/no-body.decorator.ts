import { BadRequestException, createParamDecorator, ExecutionContext } from '@nestjs/common';

import type { HttpRequest } from './http.types';

/**
 * For an action that ends sessions and takes no body (`POST /revoke-all`,
 * `DELETE /sessions[/:id]`, `DELETE /users/:id/sessions[/:sessionId]`): whatever body comes
 * with it is a 400 before anything happens, so that a caller who believes the action takes an
 * option (an exception, a session to keep, a user) learns it does not. (Logout is the opposite
 * case: its body is never read and it ends the session whatever comes, so that a client can
 * always log out.) JSON fields are refused as the whitelist refuses unknown ones; so is a JSON
 * array, and a body of a type the service does not read, which would otherwise go unseen
 * (`fetch` sends a string as `text/plain`). An empty JSON object or form is no body.
 *
 * @example
 * async revokeAll(@NoBody() _body: void) {}
 */
export const NoBody = createParamDecorator((_data: unknown, context: ExecutionContext): void => {
  const request = context.switchToHttp().getRequest<HttpRequest>();
  const { body } = request;
  if (isPlainObject(body)) {
    const [field] = Object.keys(body);
    if (field !== undefined) {
      throw new BadRequestException([`property ${field} should not exist`]);
    }
    return;
  }
  if (body !== undefined || carriesBody(request)) {
    throw new BadRequestException('This action takes no body');
  }
});

function isPlainObject(value: unknown): value is object {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Whether the request sent any bytes of body, read by a parser or not. */
function carriesBody(request: HttpRequest): boolean {
  const { 'content-length': length, 'transfer-encoding': encoding } = request.headers;
  return encoding !== undefined || Number(length) > 0;
}
