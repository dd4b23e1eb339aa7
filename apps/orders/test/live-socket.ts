import type { IncomingHttpHeaders } from 'node:http';
import WebSocket from 'ws';

/** A client socket that records what it receives and how it ends. */
export interface LiveSocket {
  ws: WebSocket;
  frames: { type: string; order?: { id: string; userId: string } }[];
  /**
   * Resolves when the socket closes, with its code, the reason the server gave and the time
   * (performance.now()).
   */
  closed: Promise<{ code: number; reason: string; at: number }>;
  /** Resolves once the server accepted the upgrade (it may still close the socket). */
  opened: Promise<void>;
}

/** Opens `url` with the given handshake headers. A refused upgrade counts as a close. */
export function openLiveSocket(url: string, headers: Record<string, string> = {}): LiveSocket {
  const ws = new WebSocket(url, { headers });
  const frames: LiveSocket['frames'] = [];
  ws.on('message', (data) => frames.push(JSON.parse(String(data))));
  const closed = new Promise<{ code: number; reason: string; at: number }>((resolve) => {
    ws.on('close', (code, reason) =>
      resolve({ code, reason: String(reason), at: performance.now() }),
    );
    ws.on('unexpected-response', (_request, response) =>
      resolve({ code: response.statusCode ?? 0, reason: '', at: performance.now() }),
    );
    ws.on('error', () => undefined);
  });
  const opened = new Promise<void>((resolve) => ws.once('open', () => resolve()));
  return { ws, frames, closed, opened };
}

/** Polls `check` until it holds, or fails after `timeoutMs`. */
export async function eventually(check: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** The HTTP answer to a handshake the server refused instead of upgrading. */
export interface RefusedHandshake {
  status: number;
  headers: IncomingHttpHeaders;
  body: unknown;
}

/** Opens `url` with the given headers; fails if the server upgrades the connection. */
export function refusedHandshake(
  url: string,
  headers: Record<string, string> = {},
): Promise<RefusedHandshake> {
  const ws = new WebSocket(url, { headers });
  return new Promise<RefusedHandshake>((resolve, reject) => {
    ws.once('open', () => {
      ws.terminate();
      reject(new Error('the server upgraded the connection'));
    });
    ws.once('unexpected-response', (_request, response) => {
      let text = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => (text += chunk));
      response.on('end', () =>
        resolve({
          status: response.statusCode ?? 0,
          headers: response.headers,
          body: text ? JSON.parse(text) : undefined,
        }),
      );
    });
    ws.on('error', () => undefined);
  });
}
