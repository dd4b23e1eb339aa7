import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';

/**
 * Requests one connection may have waiting behind the one being served (HTTP/1.1 pipelining;
 * browsers send none). One more closes the connection: Node parses whatever a client pipelines
 * without waiting for the answers, so nothing else bounds them.
 */
export const MAX_WAITING_REQUESTS = 32;

/** A connection's request being served, and the requests waiting for their turn after it. */
interface Turns {
  serving: boolean;
  waiting: (() => void)[];
}

const turnsOf = new WeakMap<Socket, Turns>();

/**
 * Middleware that serves the requests of one connection one at a time, in the order they came
 * (as nginx does), and closes a connection with more than {@link MAX_WAITING_REQUESTS} waiting.
 * Node hands the app every request a client pipelines as soon as it is parsed, and only queues
 * the answers: one connection carrying thousands of requests to a slow service had the gateway
 * open as many connections to it at once, past any per-client connection cap, until no file
 * descriptor was left to serve anyone. Served in turn, a connection costs a service one request
 * at a time, and unsafe requests are never run side by side (RFC 9112 §9.3.2). A request's turn
 * ends when its answer does (or its connection closes).
 *
 * @example
 * app.use(serveRequestsInTurn);
 */
export function serveRequestsInTurn(
  req: IncomingMessage,
  res: ServerResponse,
  next: () => void,
): void {
  const socket = req.socket;
  const turns = turnsOf.get(socket) ?? { serving: false, waiting: [] };
  turnsOf.set(socket, turns);
  const serve = () => {
    res.once('close', () => {
      // The requests still waiting on a connection that is gone are never served.
      const following = socket.destroyed ? undefined : turns.waiting.shift();
      if (following) following();
      else Object.assign(turns, { serving: false, waiting: [] });
    });
    next();
  };
  if (!turns.serving) {
    turns.serving = true;
    serve();
  } else if (turns.waiting.length < MAX_WAITING_REQUESTS) {
    turns.waiting.push(serve);
  } else {
    socket.destroy();
  }
}

/** Each connection's answers not yet sent in full, kept by {@link trackOwedAnswers}. */
const owedAnswers = new WeakMap<Socket, Set<ServerResponse>>();

/** Servers {@link trackOwedAnswers} watches already. */
const tracked = new WeakSet<Server>();

/**
 * Keeps, for each connection of `server`, the answers it still owes: every request the server
 * hands over (with `Expect` too, answered in its own events) until its answer closes. See
 * {@link owesAnswers}. A server already watched is left as it is.
 */
export function trackOwedAnswers(server: Server): void {
  if (tracked.has(server)) return;
  tracked.add(server);
  const track = (req: IncomingMessage, res: ServerResponse) => {
    const answers = owedAnswers.get(req.socket) ?? new Set<ServerResponse>();
    owedAnswers.set(req.socket, answers);
    if (answers.has(res)) return;
    answers.add(res);
    res.once('close', () => answers.delete(res));
  };
  server.prependListener('request', track);
  // Requests with `Expect` come in these events when the server has listeners for them (else
  // Node answers or emits `request` itself): a listener added here would take Node's place.
  for (const event of ['checkContinue', 'checkExpectation']) {
    if (server.listenerCount(event) > 0) server.prependListener(event, track);
  }
}

/**
 * Whether a connection still owes answers to requests it carried: an upgrade that arrives on
 * it was pipelined behind them, and Node hands it over at once, with the socket those answers
 * have yet to go out on ({@link trackOwedAnswers} must watch the server).
 */
export function owesAnswers(socket: Socket): boolean {
  return (owedAnswers.get(socket)?.size ?? 0) > 0;
}
