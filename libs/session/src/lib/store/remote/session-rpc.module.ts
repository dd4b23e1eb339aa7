import type { Socket } from 'node:net';
import { DetailedPeerCertificate, TLSSocket } from 'node:tls';

import { DynamicModule, INestMicroservice, Logger, Module } from '@nestjs/common';
import {
  CustomStrategy,
  JsonSocket,
  ServerTCP,
  TcpContext,
  TcpSocket,
} from '@nestjs/microservices';

import { SESSION_RPC_OPTIONS } from '../../session.constants';
import { HandshakeBudget, HandshakeBudgetOptions } from './handshake-budget';
import { RefusalLog } from '../../logging/refusal-log';
import type { SessionRpcOptions } from './session-rpc.capabilities';
import { connectionCaller, SessionRpcController } from './session-rpc.controller';

/** Frames larger than this drop the connection: a validation is a few hundred bytes. */
export const SESSION_RPC_MAX_FRAME = 64 * 1024;

/**
 * Milliseconds a frame may stay incomplete (its declared length not yet received), counted from
 * its first byte however slowly the rest drips in, before the connection is dropped. A request
 * is at most a few KiB and arrives in a round trip or two; Nest's own 30 s let a caller hold up
 * to `SESSION_RPC_MAX_FRAME` of auth's memory per connection that long by declaring a length
 * and sending no more.
 */
export const SESSION_RPC_INCOMPLETE_FRAME_TIMEOUT = 5_000;

/**
 * Milliseconds a connection may take to complete its TLS handshake, counted from the connection
 * (bytes dripped in do not extend it), before it is dropped. Node's default is 120 s, after
 * which it only reports the failure: a host on the service network with no certificate held as
 * many of auth's sockets as it opened, for good, by connecting and sending nothing. A caller on
 * the same network completes it within a few round trips.
 */
export const SESSION_RPC_HANDSHAKE_TIMEOUT = 5_000;

/**
 * TLS handshakes one address may have under way, or failed and not yet forgiven, and how many
 * failed ones are forgiven a second (`HandshakeBudget`). Each handshake costs auth a key exchange
 * and a signature before it learns the caller has no certificate: with no budget a host on the
 * service network made auth run one per connection, as fast as it could open them, and held
 * one socket per connection for the handshake timeout. Callers with a certificate complete
 * theirs and are given their unit back, so a deployment's processes reconnecting at once (up to
 * the burst, from one address) are not refused; a connection refused after its handshake (past
 * its caller's `SESSION_RPC_MAX_CONNECTIONS_PER_CALLER`) keeps it, as a failed one does. The
 * addresses of one IPv6 /64 share four times this budget besides their own (a host given a /64
 * would otherwise have 2^64 of them).
 */
export const SESSION_RPC_HANDSHAKES_PER_ADDRESS: HandshakeBudgetOptions = {
  burst: 64,
  perSecond: 4,
};

/**
 * Connections the server holds in their TLS handshake at once, whatever address they come from;
 * past it, each new connection drops the one that has been in its handshake longest. The
 * per-address budget bounds one host; many hosts (or one with many addresses) each within
 * theirs made auth hold a socket and a handshake's state per connection, without a bound.
 * Dropping the oldest rather than refusing the newest keeps the service open to callers with a
 * certificate while the limit is full: theirs completes within a few round trips, long before
 * it becomes the oldest, where a stalled handshake (which is what fills the limit) is the
 * oldest. A flood would have to open connections faster than this many per handshake time to
 * drop a caller's.
 */
export const SESSION_RPC_MAX_HANDSHAKES = 256;

/**
 * Milliseconds `drain()` waits for connections to finish their calls and close before it
 * destroys those still open: a caller that keeps its side open after auth's FIN, or keeps
 * sending calls, held the drain, and the shutdown behind it, for as long as it liked. Under a
 * service's 5 s shutdown drain.
 */
export const SESSION_RPC_DRAIN_TIMEOUT = 4_000;

/**
 * Milliseconds a connection past its handshake may stay silent (no byte either way) before it
 * is dropped: a caller's host that went away without closing its connections (a crash, a
 * network partition) left them open for good, each counting towards its caller's cap, until the
 * caller could not connect at all. A remote store asks auth's clock every minute
 * (`STORE_CLOCK_REFRESH_MS`), so its connection is never that silent.
 */
export const SESSION_RPC_IDLE_TIMEOUT = 180_000;

/**
 * Requests one connection may have unanswered before auth stops reading it (a batch counts as
 * one: at most `SESSION_RPC_MAX_BATCH` tokens each). A remote store has a few in flight per
 * connection; a caller sending faster than Redis answers waits in its own TCP window instead of
 * in auth's memory and ahead of everyone else's store calls.
 */
export const SESSION_RPC_MAX_IN_FLIGHT = 32;

/**
 * Requests one caller (a client certificate's name) may have unanswered across all its
 * connections: past it, its frames wait, and its connections stay unread, until one of its
 * requests is answered. `maxInFlight` alone let a caller start `maxInFlight` per connection on
 * each of its `maxConnectionsPerCaller` connections (2,048 messages, 32,768 validations), all
 * ahead of every other caller's calls in auth's event loop and its Redis: another caller's
 * validation waited up to 20 s behind them (100-365 ms at most with this limit). A remote
 * store has a few in flight per process, each message up to `SESSION_RPC_MAX_BATCH` tokens.
 */
export const SESSION_RPC_MAX_IN_FLIGHT_PER_CALLER = 32;

/**
 * Frames one connection may have waiting past `maxInFlight` before auth drops it. Reading stops
 * at the limit, so what waits is what the read that reached it brought: a remote store's frames
 * are over a hundred bytes, at most about a hundred and fifty to a 16 KiB TLS record. Only a
 * caller packing tiny frames gets near it; it bounds what waits whatever size a read has.
 */
export const SESSION_RPC_MAX_WAITING = 1024;

/**
 * Connections one caller (a client certificate's name) may hold at once: the flow control is
 * per connection, so without a cap a caller could open its way past it. Each process of a
 * remote-mode service holds one.
 */
export const SESSION_RPC_MAX_CONNECTIONS_PER_CALLER = 64;

/**
 * Answers one connection may leave unread, in bytes, before auth drops it: a caller that sends
 * without reading cannot make auth hold its answers.
 */
export const SESSION_RPC_MAX_UNREAD = 1024 * 1024;

/** Where the session RPC listens, and its mutual TLS (PEM contents, not paths). */
export interface SessionRpcServerOptions {
  host: string;
  port: number;
  tls: {
    /** The CA that signs the callers' client certificates. */
    ca: string | Buffer;
    /** Auth's server certificate and key. */
    cert: string | Buffer;
    key: string | Buffer;
  };
  /** Largest frame accepted, in characters; default `SESSION_RPC_MAX_FRAME`. */
  maxFrameSize?: number;
  /** Milliseconds a frame may stay incomplete; default `SESSION_RPC_INCOMPLETE_FRAME_TIMEOUT`. */
  incompleteFrameTimeout?: number;
  /** Milliseconds a TLS handshake may take; default `SESSION_RPC_HANDSHAKE_TIMEOUT`. */
  handshakeTimeout?: number;
  /** Unanswered requests per connection before it is read no more; default `SESSION_RPC_MAX_IN_FLIGHT`. */
  maxInFlight?: number;
  /** Unanswered requests per caller, across its connections; default `SESSION_RPC_MAX_IN_FLIGHT_PER_CALLER`. */
  maxInFlightPerCaller?: number;
  /** Frames waiting past `maxInFlight` before the connection is dropped; default `SESSION_RPC_MAX_WAITING`. */
  maxWaiting?: number;
  /** Unread answer bytes per connection before it is dropped; default `SESSION_RPC_MAX_UNREAD`. */
  maxUnreadBytes?: number;
  /** Connections per caller; default `SESSION_RPC_MAX_CONNECTIONS_PER_CALLER`. */
  maxConnectionsPerCaller?: number;
  /** Handshakes per address (`false`: no limit); default `SESSION_RPC_HANDSHAKES_PER_ADDRESS`. */
  handshakesPerAddress?: HandshakeBudgetOptions | false;
  /** Connections in their handshake at once, all addresses; default `SESSION_RPC_MAX_HANDSHAKES`. */
  maxHandshakes?: number;
  /** Milliseconds `drain()` waits before it closes what is left; default `SESSION_RPC_DRAIN_TIMEOUT`. */
  drainTimeout?: number;
  /** Milliseconds a connection may stay silent after its handshake; default `SESSION_RPC_IDLE_TIMEOUT`. */
  idleTimeout?: number;
}

/**
 * Serves the session RPC (`SessionRpcController`) with a capability table. Import it in the
 * auth service, next to a `SessionModule` with `redis`, and listen with `sessionRpcTransport`.
 *
 * @example
 * @Module({
 *   imports: [SessionRpcModule.register({ capabilities: { catalog: { calls: ['validate'], fields } } })],
 * })
 * export class SessionsModule {}
 */
@Module({})
export class SessionRpcModule {
  static register(options: SessionRpcOptions): DynamicModule {
    return {
      module: SessionRpcModule,
      controllers: [SessionRpcController],
      providers: [{ provide: SESSION_RPC_OPTIONS, useValue: options }],
    };
  }
}

/**
 * The session RPC's transport: Nest's TCP server with TLS 1.3, a client certificate signed by
 * the deployment's CA required of every caller (no certificate, or another CA's: the handshake
 * fails before any frame is read), a handshake not completed within 5 s dropped, at most 64
 * handshakes per address under way or recently failed, at most 256 in all (the oldest dropped
 * for a new one), a connection silent for 3 minutes dropped, a frame size limit, a frame left
 * incomplete dropped after 5 s, flow control, and a graceful `drain()` for a shutdown, over in
 * 4 s at most (`SessionRpcServer`).
 *
 * @example
 * const rpc = sessionRpcTransport({ host, port, tls: { ca, cert, key } });
 * app.connectMicroservice(rpc);
 * // at SIGTERM, before Nest's shutdown hooks: await rpc.strategy.drain();
 */
export function sessionRpcTransport(
  options: SessionRpcServerOptions,
): CustomStrategy & { strategy: SessionRpcServer } {
  const { host, port, tls } = options;
  return {
    strategy: new SessionRpcServer(
      {
        maxInFlight: options.maxInFlight ?? SESSION_RPC_MAX_IN_FLIGHT,
        maxInFlightPerCaller: options.maxInFlightPerCaller ?? SESSION_RPC_MAX_IN_FLIGHT_PER_CALLER,
        maxWaiting: options.maxWaiting ?? SESSION_RPC_MAX_WAITING,
        maxConnectionsPerCaller:
          options.maxConnectionsPerCaller ?? SESSION_RPC_MAX_CONNECTIONS_PER_CALLER,
        handshakesPerAddress: options.handshakesPerAddress ?? SESSION_RPC_HANDSHAKES_PER_ADDRESS,
        maxHandshakes: options.maxHandshakes ?? SESSION_RPC_MAX_HANDSHAKES,
        drainTimeout: options.drainTimeout ?? SESSION_RPC_DRAIN_TIMEOUT,
        idleTimeout: options.idleTimeout ?? SESSION_RPC_IDLE_TIMEOUT,
      },
      {
        host,
        port,
        maxBufferSize: options.maxFrameSize ?? SESSION_RPC_MAX_FRAME,
        incompleteMessageTimeout:
          options.incompleteFrameTimeout ?? SESSION_RPC_INCOMPLETE_FRAME_TIMEOUT,
        maxSendBufferSize: options.maxUnreadBytes ?? SESSION_RPC_MAX_UNREAD,
        tlsOptions: {
          ca: tls.ca,
          cert: tls.cert,
          key: tls.key,
          requestCert: true,
          rejectUnauthorized: true,
          minVersion: 'TLSv1.3',
          handshakeTimeout: options.handshakeTimeout ?? SESSION_RPC_HANDSHAKE_TIMEOUT,
        },
      },
    ),
  };
}

/**
 * Nest's framing (`<length>#<json>`), with three limits Nest does not keep:
 * - a frame whose declared length is above the limit is refused as soon as its header is read:
 *   Nest checks only what has arrived, so a caller declaring a gigabyte had auth buffer up to
 *   the limit, or hold the connection until the incomplete-frame timeout, before it was dropped;
 * - a frame still incomplete `incompleteMessageTimeout` after its first byte drops the
 *   connection: Nest restarts its timer on every read, so a caller dripping a byte every few
 *   seconds held its partial frame, and the connection, for as long as it liked;
 * - a connection ended over a frame that could not be read is dropped `incompleteMessageTimeout`
 *   later if its caller has not closed it: Nest only ends its own side, so a caller that kept
 *   its side open held the connection (and its slot under the per-caller cap) for as long as it
 *   sent a byte now and then, and a silent one for the whole idle timeout.
 * Reads the length and buffer Nest parsed (fields its types keep private; the RPC's attack
 * test fails if they go).
 */
export class SessionRpcSocket extends JsonSocket {
  private readonly frameTimeout: number | undefined;
  /** Fires when the frame under way is still incomplete its timeout after it began. */
  private frameDeadline: NodeJS.Timeout | null = null;
  private framesRead = 0;
  /** Set once the connection is ended over an unreadable frame: destroys it if still open. */
  private lingering: NodeJS.Timeout | null = null;

  constructor(
    socket: Socket,
    private readonly maxFrameSize: number,
    options: ConstructorParameters<typeof JsonSocket>[1],
  ) {
    super(socket, { ...options, maxBufferSize: maxFrameSize });
    this.frameTimeout = options?.incompleteMessageTimeout;
    socket.on('message', () => this.framesRead++);
    socket.on('close', () => {
      this.clearFrameDeadline();
      if (this.lingering) clearTimeout(this.lingering);
    });
  }

  protected override handleData(data: Buffer | string): void {
    if (this.lingering) {
      // Past an unreadable frame nothing is read: its caller's framing is lost.
      return;
    }
    const framesBefore = this.framesRead;
    super.handleData(data);
    const { contentLength: declared, buffer } = this as unknown as {
      contentLength: number | null;
      buffer: string;
    };
    if (declared !== null && declared > this.maxFrameSize) {
      this.handleDataError(
        new Error(
          `a frame of ${declared} characters declared, above the ${this.maxFrameSize} allowed`,
        ),
        { destroy: true },
      );
      return;
    }
    // The deadline belongs to the frame under way: it starts again after each complete frame,
    // and more bytes of the same frame do not move it.
    if (this.framesRead !== framesBefore || (declared === null && buffer.length === 0)) {
      this.clearFrameDeadline();
    }
    const incomplete = declared !== null || buffer.length > 0;
    if (incomplete && this.frameTimeout && !this.frameDeadline && !this.netSocket.destroyed) {
      const timeout = this.frameTimeout;
      this.frameDeadline = setTimeout(() => {
        this.frameDeadline = null;
        this.handleDataError(new Error(`a frame left incomplete for ${timeout} ms`), {
          destroy: true,
        });
      }, timeout);
      this.frameDeadline.unref();
    }
  }

  /**
   * Nest's parse of a complete frame, but a frame that is not JSON is described (its length and
   * first characters, escaped) instead of quoted: Nest's error carried the whole frame, line
   * breaks and terminal escapes included, into auth's log, as text of the caller's choosing.
   */
  protected override emitMessage(data: string): void {
    let message: unknown;
    try {
      message = JSON.parse(data);
    } catch {
      throw new Error(`a frame that is not JSON ${described(data)}`);
    }
    this.netSocket.emit('message', message || {});
  }

  /**
   * Nest's, with a length header that is not a number described instead of quoted, and a frame
   * that cannot be read reported (`UNREADABLE_FRAME`) instead of ending the connection at once:
   * Nest took the connection for closed there, so the answers of the requests read before the
   * unreadable frame, still in flight, were dropped unsent (a valid patch followed by garbage
   * in one write was applied and never answered). Reading stops; the server ends the connection
   * once those are answered (FIN after them), and it is destroyed the frame timeout after the
   * unreadable frame if it is still open (its caller keeps its side open, or a request hangs).
   */
  protected override handleDataError(error: unknown, options?: { destroy?: boolean }): void {
    const message = error instanceof Error ? error.message : String(error);
    const header = CORRUPTED_LENGTH.exec(message)?.[1];
    const reported =
      header === undefined
        ? error
        : new Error(`a length header that is not a number ${described(header)}`);
    if (options?.destroy) {
      super.handleDataError(reported, options);
      return;
    }
    if (this.lingering || this.netSocket.destroyed) {
      return;
    }
    this.clearFrameDeadline();
    this.netSocket.pause();
    this.lingering = setTimeout(
      () => this.netSocket.destroy(),
      this.frameTimeout || SESSION_RPC_INCOMPLETE_FRAME_TIMEOUT,
    );
    this.lingering.unref();
    this.netSocket.emit(
      UNREADABLE_FRAME,
      reported instanceof Error ? reported.message : String(reported),
    );
  }

  private clearFrameDeadline(): void {
    if (this.frameDeadline) {
      clearTimeout(this.frameDeadline);
      this.frameDeadline = null;
    }
  }
}

/** What `SessionRpcSocket` emits on its connection, with the reason, for a frame it cannot read. */
const UNREADABLE_FRAME = 'unreadable-frame';

/** The longest delay a Node timer takes (2^31 - 1 ms); a longer one fires at once. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * When a verified connection's client certificate stops being valid (epoch ms): the earliest
 * `valid_to` of its chain as the connection has it (a resumed TLS session may hold the leaf
 * only). Null when it shows no certificate, or a date that cannot be read: refused.
 */
function certificateEnd(socket: TLSSocket): number | null {
  let end = Infinity;
  const seen = new Set<object>();
  for (
    let certificate: DetailedPeerCertificate | undefined = socket.getPeerCertificate(true);
    certificate && Object.keys(certificate).length > 0 && !seen.has(certificate);
    certificate = certificate.issuerCertificate
  ) {
    seen.add(certificate);
    end = Math.min(end, Date.parse(certificate.valid_to));
  }
  return Number.isFinite(end) ? end : null;
}

/** Nest's message for a length header that is not a number, which quotes the header whole. */
const CORRUPTED_LENGTH = /^Corrupted length value "([\s\S]*)" supplied in a packet$/;

/**
 * Text a caller may have chosen, as a log line may carry it: at most `max` characters, each one
 * that is not printable ASCII as a `\u` escape (no line break, terminal escape or
 * bidirectional control reaches the log).
 */
function printable(text: string, max: number): string {
  const shown = text
    .slice(0, max)
    .replace(/[^\x20-\x7e]/g, (char) => `\\u${char.charCodeAt(0).toString(16).padStart(4, '0')}`);
  return text.length > max ? `${shown}...` : shown;
}

/**
 * What a log line says of an unreadable piece of a frame: its length and first characters, a
 * run of 8 or more token characters as its length only. A caller whose framing slipped may
 * start a "frame" inside a session token, whose secret must not reach the log.
 */
function described(text: string): string {
  const masked = text.slice(0, 32).replace(/[\w-]{8,}/g, (run) => `<${run.length}>`);
  const start = printable(JSON.stringify(masked), 200);
  return `(${text.length} characters, starting ${start}${text.length > 32 ? '...' : ''})`;
}

/**
 * Whether a frame is a request whose id can be echoed in its answer: Nest's clients send a
 * string. Nest writes any id back as it came, and an array nested a few thousand deep (a 16 KB
 * frame) made the answer's `JSON.stringify` overflow the stack outside any handler, which ended
 * the process. A frame without an id is an event, which the RPC does not serve.
 */
function hasAnswerableId(message: unknown): boolean {
  const id = (message as { id?: unknown } | null)?.id;
  return typeof id === 'string' || typeof id === 'number';
}

/**
 * A connection's address and port, the same for its TCP socket and the TLS socket over it;
 * undefined once it is closed.
 */
function connectionKey(socket: Socket): string | undefined {
  const { remoteAddress, remotePort } = socket;
  return remoteAddress === undefined ? undefined : `${remoteAddress} ${remotePort}`;
}

/** A message pattern that is a plain name: no JSON text starts with a letter other than t, f, n. */
const PLAIN_PATTERN = /^(?![tfn])[A-Za-z]/;

/**
 * Nest's TCP server, routing as it does, with these changes:
 * - a connection whose TLS handshake fails, or is not done within its timeout (5 s, counted
 *   from the connection however slowly its bytes arrive), is destroyed;
 * - a connection from an address out of handshakes (`HandshakeBudget`) is destroyed when it is
 *   accepted, before its first byte is read;
 * - at most `maxHandshakes` connections are in their handshake at once: a connection accepted
 *   past it destroys the one in its handshake longest;
 * - a connection silent for `idleTimeout` after its handshake is destroyed;
 * - a frame declaring more than the limit is refused on its header (`SessionRpcSocket`);
 * - flow control: Nest reads and starts every frame a connection sends, however many are still
 *   unanswered; this server stops reading a connection at `maxInFlight` unanswered requests and
 *   reads on when one is answered (a request counts until its handler's promise settles: with
 *   no interceptor on the RPC's handlers, as the library adds none, when its answer is written),
 *   holds at most `maxConnectionsPerCaller` connections of one caller, and starts at most
 *   `maxInFlightPerCaller` requests of one caller across them. The frames one read brought past
 *   a limit (Nest parses a read's frames in one go: a caller pipelining a few hundred small
 *   frames in one TLS record had them all started) wait, in order, each started when a request
 *   of its connection, or of its caller, is answered; the connection is read no more while any
 *   waits, even when its answers drain (Nest resumed it then, and a caller reading its answers
 *   slowly had one more read of frames queued per drain, without end), and more than
 *   `maxWaiting` waiting drop it;
 * - a frame without an id (an event: none is served), or whose id is neither a string nor a
 *   number (Nest echoes it in the answer), drops the connection, and the frames read with it
 *   after it are not served;
 * - a frame that cannot be read (a corrupted length, text that is not JSON) closes its
 *   connection, and is logged in one line per caller a minute, not with a stack per frame,
 *   and described (its length, its first characters escaped, token-like runs masked), never
 *   quoted: Nest's error quoted it whole, so a caller wrote lines of its choosing into auth's
 *   log. Nothing after it is read; the requests read before it are answered, then the
 *   connection is ended (Nest ended it at once and dropped their answers unsent), and dropped
 *   the incomplete-frame timeout after the frame if its caller keeps its own side open;
 * - `drain()`, a shutdown that loses no call a caller lets finish: Nest's `close` destroys
 *   every connection with the calls on it; what is still open `drainTimeout` after the drain
 *   began is destroyed;
 * - no per-message `JSON.parse` of a pattern that cannot be JSON: the session RPC's patterns are
 *   plain names (`session.validate`), and the exception that parse threw for each of them cost
 *   the RPC ~12 µs per call (a CPU profile under load). Patterns that may be JSON (objects,
 *   numbers) take Nest's own path.
 */
export class SessionRpcServer extends ServerTCP {
  private readonly inFlight = new WeakMap<TcpSocket, number>();
  /** Frames read past a connection's `maxInFlight`, in order: started as its requests are answered. */
  private readonly waiting = new WeakMap<TcpSocket, unknown[]>();
  /** Each bound connection's caller. */
  private readonly callers = new WeakMap<TcpSocket, string>();
  /** Requests unanswered per caller, across its connections. */
  private readonly callerInFlight = new Map<string, number>();
  /** Per caller, its connections with frames waiting, in the order they began to wait. */
  private readonly callerWaiting = new Map<string, Set<TcpSocket>>();
  private readonly connections = new Map<string, number>();
  private readonly refusals = new RefusalLog(new Logger('SessionRpc'));
  /** Every connection still open, from the moment it was accepted (before its handshake). */
  private readonly accepted = new Set<Socket>();
  /** The connections still in their TLS handshake, by address and port, oldest first. */
  private readonly handshaking = new Map<string, Socket>();
  /** The connections past their handshake, still open. */
  private readonly bound = new Set<TcpSocket>();
  /** Connections ended by a drain: a frame read on one of them now is never executed. */
  private readonly ending = new WeakSet<TcpSocket>();
  /** Connections past an unreadable frame: read no more, ended once their requests are answered. */
  private readonly unreadable = new WeakSet<TcpSocket>();
  /** Set once `drain` began; settles when the last connection has closed. */
  private drained?: Promise<void>;
  private budget?: HandshakeBudget;

  constructor(
    private readonly limits: {
      maxInFlight: number;
      maxInFlightPerCaller?: number;
      maxWaiting?: number;
      maxConnectionsPerCaller: number;
      handshakesPerAddress?: HandshakeBudgetOptions | false;
      maxHandshakes?: number;
      drainTimeout?: number;
      idleTimeout?: number;
    },
    private readonly tcpOptions: ConstructorParameters<typeof ServerTCP>[0],
  ) {
    super(tcpOptions);
  }

  /**
   * Nest's server, and a connection whose TLS handshake failed or timed out
   * (`handshakeTimeout`) destroyed: Node reports it (`tlsClientError`) but leaves the socket
   * open, so a host that connected and sent nothing held a socket of auth's for good. Every
   * connection is known from the moment it is accepted, so that `close` ends those still in
   * their handshake too (Nest knows them only once they are TLS sessions). Runs within Nest's
   * constructor: the listeners read this class's fields when they fire, after it.
   */
  protected override init(): void {
    super.init();
    this.server.on('tlsClientError', (_error: Error, socket: Socket) => socket.destroy());
    this.server.on('connection', (socket: Socket) => {
      this.accepted.add(socket);
      socket.once('close', () => this.accepted.delete(socket));
      const budget = this.handshakes();
      const address = socket.remoteAddress;
      if (budget && address !== undefined && !budget.take(address)) {
        this.refusals.warn(
          `handshakes ${address}`,
          `Refused a connection from ${address}: too many handshakes under way or failed`,
        );
        socket.destroy();
        return;
      }
      this.admitHandshake(socket);
    });
  }

  /**
   * Counts a connection among those in their handshake, dropping the oldest of them when
   * `maxHandshakes` are: a stalled one, as a caller with a certificate completes its handshake
   * within a few round trips.
   */
  private admitHandshake(socket: Socket): void {
    const key = connectionKey(socket);
    if (key === undefined) {
      return;
    }
    const max = this.limits.maxHandshakes ?? SESSION_RPC_MAX_HANDSHAKES;
    for (const [oldestKey, oldest] of this.handshaking) {
      if (this.handshaking.size < max) {
        break;
      }
      this.handshaking.delete(oldestKey);
      this.refusals.warn(
        'handshakes',
        `Dropped a connection from ${oldest.remoteAddress} in its TLS handshake: ${max} under way, the most allowed`,
      );
      oldest.destroy();
    }
    this.handshaking.set(key, socket);
    socket.once('close', () => {
      if (this.handshaking.get(key) === socket) {
        this.handshaking.delete(key);
      }
    });
  }

  /** The per-address handshake budget, made on first use (`init` runs before the fields are set). */
  private handshakes(): HandshakeBudget | undefined {
    const options = this.limits.handshakesPerAddress;
    if (options === false) {
      return undefined;
    }
    this.budget ??= new HandshakeBudget(options ?? SESSION_RPC_HANDSHAKES_PER_ADDRESS);
    return this.budget;
  }

  /**
   * The first step of a shutdown, for the time the service drains before Nest's hooks let go of
   * Redis: stops accepting connections, lets the calls in flight finish and be answered (and
   * serves the frames that still arrive meanwhile), and ends each connection, answers written
   * first, at a moment it has no call in flight, so that a caller loses no call it already
   * made. Resolves once every connection has closed, or `drainTimeout` after it began, when
   * it destroys those still open: a caller that keeps its side open after auth's FIN, or keeps
   * sending calls, does not hold the shutdown. The calls in flight on them then fail on the
   * caller's side as on a lost connection (`RpcConnectionClosedError`).
   *
   * A frame that crosses the end (written by the caller as auth ends its connection) is never
   * executed: its caller sees the connection close unanswered, and `RemoteSessionStore` asks
   * its reads again, once, on a fresh connection (a patch it does not: it fails, 503).
   *
   * @example
   * await server.drain();
   * server.close();
   */
  drain(): Promise<void> {
    this.drained ??= new Promise<void>((closed) => {
      const deadline = setTimeout(
        () => this.destroyAll(),
        this.limits.drainTimeout ?? SESSION_RPC_DRAIN_TIMEOUT,
      );
      deadline.unref();
      // Its callback waits for every connection: those in their handshake end once bound.
      this.server.close(() => {
        clearTimeout(deadline);
        closed();
      });
      for (const connection of this.bound) {
        this.endWhenIdle(connection);
      }
    });
    return this.drained;
  }

  /**
   * Ends a draining connection, or one past an unreadable frame, if it has no call in flight.
   * Checked a turn later: Nest writes an answer on a tick after its handler settles, and a
   * frame read meanwhile is served first.
   */
  private endWhenIdle(connection: TcpSocket): void {
    setImmediate(() => {
      if ((this.inFlight.get(connection) ?? 0) === 0 && !this.ending.has(connection)) {
        this.ending.add(connection);
        // `end`, not `destroy`: the answers written are sent before the FIN.
        connection.netSocket.end();
        if (this.unreadable.has(connection)) {
          // Read again, its bytes ignored, so that the caller's FIN closes it at once.
          connection.netSocket.resume();
        }
      }
    });
  }

  /** Stops listening and ends every connection, whether or not its handshake is done. */
  override close(): void {
    super.close();
    this.destroyAll();
  }

  /** Destroys every connection, bound or still in its handshake. */
  private destroyAll(): void {
    for (const connection of this.bound) {
      connection.netSocket.destroy();
    }
    for (const socket of this.accepted) {
      socket.destroy();
    }
    this.accepted.clear();
  }

  /** Every connection's frames read by `SessionRpcSocket`, with the transport's limits. */
  override getSocketInstance(socket: Socket): TcpSocket {
    const { maxBufferSize, incompleteMessageTimeout, maxSendBufferSize } = this.tcpOptions;
    return new SessionRpcSocket(socket, maxBufferSize ?? SESSION_RPC_MAX_FRAME, {
      incompleteMessageTimeout,
      maxSendBufferSize,
    });
  }

  /**
   * A connection whose handshake completed: past its caller's cap, or with a certificate that
   * has expired, it is closed before any frame is read and its address keeps the handshake's
   * unit (a certificate's holder connecting past its cap made auth run a key exchange per
   * connection, without limit, when every completed handshake gave its unit back); otherwise
   * the unit is given back. Silent for `idleTimeout`, it is closed.
   */
  override bindHandler(socket: Socket): void {
    const key = connectionKey(socket);
    if (key !== undefined) {
      this.handshaking.delete(key);
    }
    const caller = socket instanceof TLSSocket ? connectionCaller(socket) : '';
    if (socket instanceof TLSSocket && !this.closeAtCertificateEnd(socket, caller)) {
      return;
    }
    const open = this.connections.get(caller) ?? 0;
    if (open >= this.limits.maxConnectionsPerCaller) {
      this.refusals.warn(
        `caller ${caller}`,
        `Refused a connection from ${caller}: ${open} open, the most one caller may hold`,
      );
      socket.destroy();
      return;
    }
    if (socket.remoteAddress !== undefined) {
      this.handshakes()?.giveBack(socket.remoteAddress);
    }
    const idle = this.limits.idleTimeout ?? SESSION_RPC_IDLE_TIMEOUT;
    socket.setTimeout(idle, () => socket.destroy());
    this.connections.set(caller, open + 1);
    socket.once('close', () => {
      const left = (this.connections.get(caller) ?? 1) - 1;
      if (left > 0) {
        this.connections.set(caller, left);
      } else {
        this.connections.delete(caller);
      }
    });
    // Nest's own binding, with unreadable frames reported by caller instead of as a stack each.
    this.trackOpenSocket(socket);
    const connection = this.getSocketInstance(socket);
    this.bound.add(connection);
    this.callers.set(connection, caller);
    socket.once('close', () => {
      this.bound.delete(connection);
      this.callerWaiting.get(caller)?.delete(connection);
    });
    if (this.drained) {
      this.endWhenIdle(connection);
    }
    // Nest resumes a connection once its answers drain, whatever still waits on it: every drain
    // let one more read of frames in behind those waiting, without end.
    socket.on('resume', () => {
      if (this.held(connection)) {
        socket.pause();
      }
    });
    connection.on('message', (message) => {
      // Frames read together are parsed together: those after one that ended the connection
      // are still emitted.
      if (this.ending.has(connection) || socket.destroyed) {
        return;
      }
      if (!hasAnswerableId(message)) {
        this.reportUnreadable(
          caller,
          'a frame without an id, or whose id is neither a string nor a number',
        );
        socket.destroy();
        return;
      }
      const maxWaiting = this.limits.maxWaiting ?? SESSION_RPC_MAX_WAITING;
      if ((this.waiting.get(connection)?.length ?? 0) >= maxWaiting) {
        this.reportUnreadable(caller, `more than ${maxWaiting} frames waiting past maxInFlight`);
        socket.destroy();
        return;
      }
      this.serve(connection, message);
    });
    connection.on(UNREADABLE_FRAME, (reason: string) => {
      this.unreadable.add(connection);
      this.reportUnreadable(caller, reason);
      this.endWhenIdle(connection);
    });
    connection.on('error', (reason) => {
      // The connection failed, or Nest destroys it (a frame too large or left incomplete,
      // answers left unread): nothing read on it is served now.
      this.ending.add(connection);
      this.reportUnreadable(caller, reason);
    });
  }

  /**
   * Destroys the connection when its client certificate (or a certificate of its chain) expires,
   * or at once if it already has; false then. The handshake checks the dates once: a connection
   * outlived its certificate for good (a remote store keeps its connection busy), and a TLS 1.3
   * session ticket issued while the certificate was valid resumed a new connection after it had
   * expired, with no check at all.
   */
  private closeAtCertificateEnd(socket: TLSSocket, caller: string): boolean {
    const end = certificateEnd(socket);
    if (end === null || end <= Date.now()) {
      this.refusals.warn(
        `expired ${caller}`,
        `Refused a connection from ${caller}: its client certificate has expired`,
      );
      socket.destroy();
      return false;
    }
    let timer: NodeJS.Timeout | undefined;
    const arm = (): void => {
      const left = end - Date.now();
      if (left > 0) {
        // Timers hold at most ~24.8 days; a certificate lives longer: wait in steps.
        timer = setTimeout(arm, Math.min(left, MAX_TIMER_MS));
        timer.unref();
        return;
      }
      this.refusals.warn(
        `expired ${caller}`,
        `Closed a connection from ${caller}: its client certificate has expired`,
      );
      socket.destroy();
    };
    arm();
    socket.once('close', () => clearTimeout(timer));
    return true;
  }

  /**
   * Whether a connection must stay unread: `maxInFlight` unanswered, frames waiting, or answers
   * Nest holds back until the caller reads (a field its types keep private).
   */
  private held(connection: TcpSocket): boolean {
    return (
      (this.unreadable.has(connection) && !this.ending.has(connection)) ||
      (this.inFlight.get(connection) ?? 0) >= this.limits.maxInFlight ||
      (this.waiting.get(connection)?.length ?? 0) > 0 ||
      (connection as unknown as { isBackpressured?: boolean }).isBackpressured === true
    );
  }

  /**
   * Starts a request, or keeps it for later: behind frames already waiting on its connection,
   * or while its connection has `maxInFlight` unanswered, or its caller `maxInFlightPerCaller`.
   */
  private serve(connection: TcpSocket, message: unknown): void {
    const waiting = this.waiting.get(connection);
    if (waiting?.length || !this.mayStart(connection)) {
      connection.netSocket.pause();
      if (waiting) {
        waiting.push(message);
      } else {
        this.waiting.set(connection, [message]);
      }
      const caller = this.callers.get(connection);
      if (caller !== undefined) {
        let connections = this.callerWaiting.get(caller);
        if (!connections) {
          connections = new Set();
          this.callerWaiting.set(caller, connections);
        }
        connections.add(connection);
      }
      return;
    }
    this.start(connection, message);
  }

  private start(connection: TcpSocket, message: unknown): void {
    this.handleMessage(connection, message).catch((error) => this.handleError(error));
  }

  /** Whether a request of this connection may start now, within both in-flight limits. */
  private mayStart(connection: TcpSocket): boolean {
    if ((this.inFlight.get(connection) ?? 0) >= this.limits.maxInFlight) {
      return false;
    }
    const caller = this.callers.get(connection);
    return (
      caller === undefined ||
      (this.callerInFlight.get(caller) ?? 0) <
        (this.limits.maxInFlightPerCaller ?? SESSION_RPC_MAX_IN_FLIGHT_PER_CALLER)
    );
  }

  /**
   * After an answer: starts what waits, as the limits allow, this connection's frames first,
   * then those of its caller's other connections, in the order they began to wait.
   */
  private startWaiting(connection: TcpSocket): void {
    const caller = this.callers.get(connection);
    const others = caller === undefined ? undefined : this.callerWaiting.get(caller);
    for (const each of [connection, ...(others ?? [])]) {
      this.startWaitingOn(each);
    }
  }

  /**
   * Starts the frames waiting on one connection while the limits allow. Once none waits it is
   * read again, unless it is still held: at `maxInFlight`, it is read on when one is answered.
   */
  private startWaitingOn(connection: TcpSocket): void {
    const waiting = this.waiting.get(connection);
    if (!waiting?.length) {
      return;
    }
    const live = !connection.netSocket.destroyed && !this.ending.has(connection);
    while (live && waiting.length && this.mayStart(connection)) {
      this.start(connection, waiting.shift());
    }
    if (live && waiting.length) {
      return;
    }
    this.waiting.delete(connection);
    const caller = this.callers.get(connection);
    if (caller !== undefined) {
      this.callerWaiting.get(caller)?.delete(connection);
      if (this.callerWaiting.get(caller)?.size === 0) {
        this.callerWaiting.delete(caller);
      }
    }
    if (live && !this.held(connection)) {
      connection.netSocket.resume();
    }
  }

  /** One line per caller and minute at most, with the count of the frames not logged since. */
  private reportUnreadable(caller: string, reason: unknown): void {
    const what = printable(
      typeof reason === 'string' ? reason : String((reason as Error)?.message ?? reason),
      300,
    );
    this.refusals.warn(
      `unreadable ${caller}`,
      `Closed a connection from ${caller || 'an unnamed caller'}: ${what}`,
    );
  }

  override async handleMessage(socket: TcpSocket, rawMessage: unknown): Promise<unknown> {
    const count = (this.inFlight.get(socket) ?? 0) + 1;
    this.inFlight.set(socket, count);
    const caller = this.callers.get(socket);
    if (caller !== undefined) {
      this.callerInFlight.set(caller, (this.callerInFlight.get(caller) ?? 0) + 1);
    }
    if (count === this.limits.maxInFlight) {
      socket.netSocket.pause();
    }
    try {
      return await super.handleMessage(socket, rawMessage);
    } finally {
      const left = (this.inFlight.get(socket) ?? 1) - 1;
      this.inFlight.set(socket, left);
      if (caller !== undefined) {
        const callerLeft = (this.callerInFlight.get(caller) ?? 1) - 1;
        if (callerLeft > 0) {
          this.callerInFlight.set(caller, callerLeft);
        } else {
          this.callerInFlight.delete(caller);
        }
      }
      if (this.waiting.get(socket)?.length) {
        // In this one's place, or a request of another connection of its caller.
        this.startWaiting(socket);
      } else {
        this.waiting.delete(socket);
        if (left === this.limits.maxInFlight - 1) {
          socket.netSocket.resume();
        }
        this.startWaiting(socket);
      }
      if (left === 0 && (this.drained || this.unreadable.has(socket))) {
        this.endWhenIdle(socket);
      }
    }
  }

  /**
   * The session RPC serves no events: a frame without an id (which Nest would log, once per
   * frame, and leave the connection open) drops the connection.
   */
  override async handleEvent(
    _pattern: string,
    _packet: unknown,
    context: TcpContext,
  ): Promise<void> {
    context.getSocketRef().netSocket.destroy();
  }

  protected override getRouteFromPattern(pattern: string): string {
    return PLAIN_PATTERN.test(pattern) ? pattern : super.getRouteFromPattern(pattern);
  }
}

/**
 * Logs connections whose TLS handshake failed (no client certificate, another CA's, not TLS
 * at all), once per address and reason.
 *
 * @example
 * reportRefusedHandshakes(app.connectMicroservice(sessionRpcTransport(options)));
 */
export function reportRefusedHandshakes(
  microservice: INestMicroservice,
  logger = new Logger('SessionRpc'),
): INestMicroservice {
  const reported = new Set<string>();
  microservice.on(
    'tlsClientError',
    (error: Error & { code?: string }, socket: { remoteAddress?: string }) => {
      const key = `${socket.remoteAddress ?? 'unknown'} ${error.code ?? error.message}`;
      // Bounded: a flood from many addresses must not grow memory without end.
      if (reported.has(key) || reported.size >= 1000) return;
      reported.add(key);
      logger.warn(`Refused a connection from ${key} (not logged again)`);
    },
  );
  return microservice;
}
