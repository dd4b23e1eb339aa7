import { IncomingMessage, STATUS_CODES } from 'node:http';
import { HttpException } from '@nestjs/common';
import { NestExpressApplication } from '@nestjs/platform-express';
import type { Request } from 'express';

import { JSON_MAX_DEPTH, JSON_MAX_VALUES } from './body-limits';
import { jsonShapeExcess } from './json-depth';

/** What the JSON body parser raises for nesting too deep; answered 400 by the error filter. */
export class JsonTooDeepError extends Error {
  readonly status = 400;
  readonly type = 'entity.too.deep';

  constructor() {
    super(`JSON body nests deeper than ${JSON_MAX_DEPTH} levels`);
  }
}

/** What the JSON body parser raises for too many values; answered 400 by the error filter. */
export class JsonTooManyValuesError extends Error {
  readonly status = 400;
  readonly type = 'entity.too.many.values';

  constructor() {
    super(`JSON body holds more than ${JSON_MAX_VALUES} values`);
  }
}

/** JSON in another charset than UTF-8 (RFC 8259 §8.1): its bytes could hide brackets. */
export class JsonCharsetError extends Error {
  readonly status = 415;
  readonly type = 'charset.unsupported';

  constructor() {
    super('JSON bodies must be UTF-8');
  }
}

/** Fixed answers to body-parser errors, by their `type`: their own messages quote the body. */
const BODY_ERRORS: Readonly<Record<string, string>> = {
  'entity.parse.failed': 'Malformed JSON body',
  'entity.too.deep': 'JSON body nested too deep',
  'entity.too.many.values': 'JSON body holds too many values',
  'entity.too.large': 'Request body too large',
  'parameters.too.many': 'Too many form parameters',
  'charset.unsupported': 'Unsupported charset',
  'encoding.unsupported': 'Unsupported content encoding',
  'request.aborted': 'Request aborted',
  'request.size.invalid': 'Request size did not match Content-Length',
};

/**
 * JSON and form bodies up to `limit` bytes (413 beyond). A JSON body's raw bytes are scanned
 * for depth and for the count of its values before they are parsed (400 beyond
 * {@link JSON_MAX_DEPTH} or {@link JSON_MAX_VALUES}), so that no deep nesting and no mass of
 * values reaches the validation pipe. Forms are flat (`extended: false`): no nesting at all.
 * Their errors become HTTP exceptions with fixed messages, which never quote the body.
 * The bodies of `bodiless` routes (full paths) are never read: nothing a client sends there,
 * malformed JSON or too large a body, can stop the route (logout).
 *
 * @example
 * useBodyParsers(app, bodyLimitOf('auth'), ['/api/auth/logout']);
 */
export function useBodyParsers(
  app: NestExpressApplication,
  limit: number,
  bodiless: readonly string[] = [],
): void {
  const skipped = new Set(bodiless.map(routeKey));
  // Express routes ignore case and a trailing slash: so does the list.
  const parses = (type: string) => (request: Request) =>
    !skipped.has(routeKey(request.path)) && Boolean(request.is(type));
  // Nest leaves `verify` out of the option type because `rawBody: true` replaces it; services
  // never turn `rawBody` on, and the depth tests fail if the check is ever lost.
  const json = {
    limit,
    type: parses('application/json'),
    verify: (_request: IncomingMessage, _response: unknown, body: Buffer, charset: string) => {
      if (charset !== 'utf-8') {
        throw new JsonCharsetError();
      }
      const excess = jsonShapeExcess(body, JSON_MAX_DEPTH, JSON_MAX_VALUES);
      if (excess === 'depth') {
        throw new JsonTooDeepError();
      }
      if (excess === 'values') {
        throw new JsonTooManyValuesError();
      }
    },
  };
  app.useBodyParser('json', json);
  app.useBodyParser('urlencoded', {
    limit,
    extended: false,
    type: parses('application/x-www-form-urlencoded'),
  });
  app.use(bodyErrorAsHttpException);
}

/** A path as Express matches it: case aside, with or without one trailing slash. */
function routeKey(path: string): string {
  return path.toLowerCase().replace(/(.)\/$/, '$1');
}

/** Turns a body-parser error (a client's fault, 4xx) into an HTTP exception with a fixed message. */
function bodyErrorAsHttpException(
  error: { status?: unknown; type?: unknown },
  _request: IncomingMessage,
  _response: unknown,
  next: (error: unknown) => void,
): void {
  const { status, type } = error;
  if (typeof status === 'number' && status >= 400 && status < 500) {
    next(new HttpException(BODY_ERRORS[String(type)] ?? STATUS_CODES[status] ?? '', status));
    return;
  }
  next(error);
}
