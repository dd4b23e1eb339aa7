import { performance } from 'node:perf_hooks';
import type { Logger } from '@nestjs/common';

/** How often one kind of refusal is told of again while it lasts. */
const REFUSAL_LOG_INTERVAL_MS = 60_000;
/** Kinds remembered at most: Redis's error codes are a few dozen. */
const MAX_KINDS = 64;

/**
 * Tells of the commands Redis refused while it answered (NOPERM after an ACL change, MISCONF
 * when it cannot save, READONLY from a node turned replica, OOM, BUSY): the calls answer 503
 * meanwhile, and the outage warning follows broken connections only, so without this nothing
 * in the log said why. One warning per kind (the error's code) a minute, in one printable line
 * of at most 200 characters.
 *
 * @example
 * const refusals = new RedisRefusals(logger);
 * client.get(key).catch((error) => refusals.report(error));
 */
export class RedisRefusals {
  private readonly toldAt = new Map<string, number>();

  constructor(
    private readonly logger: Pick<Logger, 'warn'>,
    private readonly everyMs = REFUSAL_LOG_INTERVAL_MS,
  ) {}

  report(error: unknown): void {
    if (!(error instanceof Error) || error.name !== 'ReplyError') {
      return;
    }
    const kind = /^[A-Z]{2,20}\b/.exec(error.message)?.[0] ?? 'ERR';
    const now = performance.now();
    const told = this.toldAt.get(kind);
    if (told !== undefined && now - told < this.everyMs) {
      return;
    }
    if (told === undefined && this.toldAt.size >= MAX_KINDS) {
      this.toldAt.clear();
    }
    this.toldAt.set(kind, now);
    const said = error.message.replace(/[^\x20-\x7e]+/g, ' ').slice(0, 200);
    this.logger.warn(`Redis refused a session command, which answers 503 meanwhile: ${said}`);
  }
}
