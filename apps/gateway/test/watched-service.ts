import { Server } from 'node:http';
import { Socket } from 'node:net';

/**
 * What a stand-in service keeps for the tests to wait on: the connections it has open, and a
 * signal whenever something the test watches changes (`changed()`), which `until` waits for.
 */
export class WatchedService {
  readonly open = new Set<Socket>();
  private wake: () => void = () => undefined;

  /** Resolves once `test` holds, or with `false` after `ms`. */
  async until(test: () => boolean, ms: number): Promise<boolean> {
    const deadline = setTimeout(() => this.wake(), ms);
    const start = Date.now();
    while (!test() && Date.now() - start < ms) {
      await new Promise<void>((resolve) => (this.wake = resolve));
    }
    clearTimeout(deadline);
    return test();
  }

  /** Counts `server`'s connections in `open`, each close a change. */
  protected watch(server: Server): void {
    server.on('connection', (socket: Socket) => {
      this.open.add(socket);
      socket.once('close', () => {
        this.open.delete(socket);
        this.changed();
      });
    });
  }

  protected changed(): void {
    this.wake();
  }
}
