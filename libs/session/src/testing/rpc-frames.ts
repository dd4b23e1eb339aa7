import type { Socket } from 'node:net';

/**
 * Reads the session RPC's frames (`<length>#<json>`, Nest's TCP framing) off a raw socket and
 * hands each one, parsed, to `onFrame` in the order they came: for tests that speak the
 * protocol by hand, with sockets and frames no client of the library would send.
 *
 * @example
 * const socket = tls.connect({ host: '127.0.0.1', port, ...certificate });
 * readRpcFrames(socket, (frame) => answers.push(frame as { id: string }));
 * const json = JSON.stringify({ pattern: 'session.validate', data, id: '1' });
 * socket.write(`${json.length}#${json}`);
 */
export function readRpcFrames(socket: Socket, onFrame: (frame: unknown) => void): void {
  let received = '';
  socket.setEncoding('utf8');
  socket.on('data', (chunk: string) => {
    received += chunk;
    for (let hash = received.indexOf('#'); hash > 0; hash = received.indexOf('#')) {
      const length = Number(received.slice(0, hash));
      if (received.length - hash - 1 < length) break;
      const json = received.slice(hash + 1, hash + 1 + length);
      received = received.slice(hash + 1 + length);
      onFrame(JSON.parse(json));
    }
  });
}
