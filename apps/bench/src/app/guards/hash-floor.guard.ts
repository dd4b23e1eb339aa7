import { hash } from 'node:crypto';

import { CanActivate, ExecutionContext, UnauthorizedException } from '@nestjs/common';

import { readSessionToken, TokenHeaders } from '@cloakroom/session';

/** The session cookie's default name; the benchmark's requests carry bearer tokens. */
const COOKIE_NAME = 'cr_session';

/**
 * `hash-floor`: the least a local cache keyed by token digests can do on a hit — find the
 * request's token and take its SHA-256 — then `true`, synchronously, as a cache hit answers.
 * A cache keyed by the raw token would skip the hash, and keep live tokens in the heap (the
 * bench README says why the library does not). What `session-cache` adds over this is the
 * cache's own work: the lookup, the copy, the session attached and its roles checked.
 */
export class HashFloorGuard implements CanActivate {
  canActivate(context: ExecutionContext): boolean {
    const request = context.switchToHttp().getRequest<{ headers: TokenHeaders }>();
    const found = readSessionToken(request.headers, COOKIE_NAME);
    if (!found) {
      throw new UnauthorizedException('Authentication required');
    }
    hash('sha256', found.token, 'base64url');
    return true;
  }
}
