import { Logger } from '@nestjs/common';
import { ClientTCP, TcpClientOptions } from '@nestjs/microservices';
import { Observable } from 'rxjs';

import { RpcConnectionClosedError } from '../../errors/rpc-connection-closed.error';

/**
 * Nest's TCP client (TLS or not), which drops its connection once it has gone silent and
 * connects again for the next call. A server whose host died, or that a network partition cut
 * off, closes nothing: Nest's client keeps its one connection, and every call on it times out
 * until the kernel gives the connection up (up to ~15 minutes of retransmissions), however soon
 * another server took over the address.
 *
 * A call its caller gave up on unanswered (a `timeout()` in its pipe, an unsubscription), when
 * the server has answered nothing at all for `silentMs`, destroys the connection: what still
 * waits on it fails, and the next call connects again. A server that is slow but
 * answers others meanwhile is kept. Answers count whatever they carry (an error the server
 * sent is an answer); a failure of the connection itself is not one.
 *
 * The calls still waiting when their connection closes fail with `RpcConnectionClosedError`
 * (Nest's own is a plain `Error`), which tells a caller that may send a call again (a read)
 * that the call was written and went unanswered, as opposed to timed out or refused.
 *
 * @example
 * const catalog = new ReconnectingClientTCP({ host, port, tlsOptions }, { silentMs: 2000 });
 * await firstValueFrom(catalog.send('catalog.prices', { skus }).pipe(timeout(1000)));
 */
export class ReconnectingClientTCP extends ClientTCP {
  private readonly log = new Logger('ReconnectingClientTCP');
  // Monotonic: a host clock stepped back would hide a silence, stepped forward invent one.
  private answeredAt = performance.now();

  constructor(
    options: TcpClientOptions['options'],
    private readonly watch: {
      /** Silence, with a call given up, after which the connection is taken for dead. */
      silentMs: number;
      /** Names the server in the warning logged when a connection is dropped. */
      name?: string;
    },
  ) {
    super(options ?? {});
  }

  override send<Result = unknown, Input = unknown>(
    pattern: unknown,
    data: Input,
  ): Observable<Result> {
    const sent = super.send<Result, Input>(pattern, data);
    return new Observable<Result>((subscriber) => {
      let settled = false;
      const answered = () => {
        settled = true;
        this.answeredAt = performance.now();
      };
      const inner = sent.subscribe({
        next: (value) => {
          answered();
          subscriber.next(value);
        },
        error: (error: unknown) => {
          settled = true;
          // What the server sent back is an answer; a connection's own failure is an Error.
          if (!(error instanceof Error)) {
            answered();
          }
          subscriber.error(error);
        },
        complete: () => {
          answered();
          subscriber.complete();
        },
      });
      return () => {
        inner.unsubscribe();
        if (!settled) {
          this.dropIfSilent();
        }
      };
    });
  }

  /** Nest's, with the calls that were waiting failed with `RpcConnectionClosedError`. */
  override handleClose(): void {
    const waiting = [...this.routingMap.values()];
    this.routingMap.clear();
    super.handleClose();
    // After Nest has forgotten the connection: a call sent again from here connects anew.
    for (const callback of waiting) {
      callback({ err: new RpcConnectionClosedError() });
    }
  }

  /** Destroys the connection if the server has answered nothing for `silentMs`. */
  private dropIfSilent(): void {
    const silentMs = Math.round(performance.now() - this.answeredAt);
    if (silentMs < this.watch.silentMs || !this.socket) {
      return;
    }
    this.log.warn(
      `${this.watch.name ?? 'The server'} answered nothing for ${silentMs} ms while a call waited: connecting again`,
    );
    // Counted from now: the other calls given up on this connection need not drop the next.
    this.answeredAt = performance.now();
    // Forgotten at once, so that the very next call connects again; its 'close', whenever it
    // comes, must not then make Nest forget the new connection instead.
    const { netSocket } = this.socket;
    netSocket.removeAllListeners('close');
    netSocket.destroy();
    this.handleClose();
  }
}
