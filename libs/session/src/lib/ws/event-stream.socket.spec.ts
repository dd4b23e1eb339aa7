import { IncomingMessage, ServerResponse } from 'node:http';
import { Socket } from 'node:net';

import { SessionSocketClose } from '../session.constants';
import { EventStreamSocket, SESSION_ENDED_EVENT } from './event-stream.socket';

/** A response on a connection of its own, whose written bytes are kept. */
function heldResponse() {
  const connection = new Socket();
  const written: string[] = [];
  jest.spyOn(connection, 'destroy').mockImplementation(() => connection);
  const response = new ServerResponse(new IncomingMessage(connection));
  response.assignSocket(connection);
  jest.spyOn(connection, 'write').mockImplementation((chunk: unknown, ...rest: unknown[]) => {
    written.push(String(chunk));
    const done = rest.find((arg) => typeof arg === 'function') as (() => void) | undefined;
    done?.();
    return true;
  });
  return { response, text: () => written.join('') };
}

/** The status line of what was written before the route answered. */
function statusLine(text: string): string {
  return text.slice(0, text.indexOf('\r\n'));
}

/** The data of the last `session-ended` event written. */
function endedEvent(text: string): unknown {
  const event = text.slice(text.lastIndexOf(`event: ${SESSION_ENDED_EVENT}\n`));
  return JSON.parse(/^data: (.*)$/m.exec(event)?.[1] ?? 'null');
}

describe('EventStreamSocket', () => {
  afterEach(() => jest.restoreAllMocks());

  it.each([
    [SessionSocketClose.unauthenticated, 401],
    [SessionSocketClose.forbidden, 403],
    [SessionSocketClose.storeUnavailable, 503],
    [SessionSocketClose.tooMany, 429],
    [4429, 429],
    [4503, 503],
    [1000, 401],
    [1001, 401],
    [1011, 401],
    [3000, 401],
    [4000, 401],
    [4099, 401],
    [4200, 401],
    [4302, 401],
    [4999, 401],
    [0, 401],
    [-4401, 401],
    [4401.5, 401],
    [Number.NaN, 401],
  ])(
    'answers close(%p) before the route has answered with HTTP %p, never throwing',
    (code, status) => {
      const { response, text } = heldResponse();
      const socket = new EventStreamSocket(response);
      expect(() => socket.close(code, 'Session ended')).not.toThrow();
      expect(statusLine(text())).toMatch(new RegExp(`^HTTP/1\\.1 ${status} `));
      expect(text()).toMatch(/\r\ncache-control: no-store\r\n/i);
      expect(text()).toContain(JSON.stringify({ statusCode: status, message: 'Session ended' }));
      expect(socket.readyState).toBe(3);
    },
  );

  it.each([
    [SessionSocketClose.unauthenticated, 401],
    [SessionSocketClose.forbidden, 403],
    [SessionSocketClose.storeUnavailable, 503],
    [1000, 401],
    [4200, 401],
  ])(
    'ends a stream already open after close(%p) with a session-ended event of status %p',
    (code, status) => {
      const { response, text } = heldResponse();
      response.writeHead(200, { 'content-type': 'text/event-stream' });
      const socket = new EventStreamSocket(response);
      socket.send('{"type":"order"}');
      expect(() => socket.close(code, 'Role removed')).not.toThrow();
      expect(endedEvent(text())).toEqual({ status, reason: 'Role removed' });
      expect(socket.readyState).toBe(3);
    },
  );
});
