import { randomBytes } from 'node:crypto';
import { Injectable } from '@nestjs/common';
import { Algorithm, hash, Options, verify } from '@node-rs/argon2';

import { PasswordWorkBusyException } from '../common/password-work-busy.exception';
import { AuthConfig } from '../config/auth.config';

/**
 * argon2id with the OWASP Password Storage Cheat Sheet baseline: 19 MiB of memory
 * (m=19456 KiB), 2 passes (t=2), 1 lane (p=1), 32-byte output, 16-byte random salt.
 * About 20 ms per hash on a current server core: slow for an attacker with a stolen hash, cheap
 * enough that a burst of logins does not starve the event loop (the work runs on libuv's
 * thread pool). Raise `memoryCost` before `timeCost` if hardware allows.
 */
const ARGON2_OPTIONS: Options = {
  algorithm: Algorithm.Argon2id,
  memoryCost: 19456,
  timeCost: 2,
  parallelism: 1,
  outputLen: 32,
};

/** The PHC prefix our options produce; a stored hash with another prefix should be redone. */
const CURRENT_PARAMS = `$argon2id$v=19$m=${ARGON2_OPTIONS.memoryCost},t=${ARGON2_OPTIONS.timeCost},p=${ARGON2_OPTIONS.parallelism}$`;

/**
 * At most `size` tasks at once, at most `queue` more waiting in arrival order; beyond that a
 * task is refused at once (503) instead of joining an ever longer line.
 */
class WorkSlots {
  private running = 0;
  private readonly waiting: Array<() => void> = [];

  constructor(
    private readonly size: number,
    private readonly queue: number,
  ) {}

  async run<T>(task: () => Promise<T>): Promise<T> {
    if (this.running < this.size) {
      this.running++;
    } else if (this.waiting.length < this.queue) {
      // The finishing task hands its slot over: `running` stays as it is.
      await new Promise<void>((resolve) => this.waiting.push(resolve));
    } else {
      throw new PasswordWorkBusyException(1);
    }
    try {
      return await task();
    } finally {
      const next = this.waiting.shift();
      if (next) {
        next();
      } else {
        this.running--;
      }
    }
  }
}

/**
 * Hashes and checks passwords. Every argon2 run takes one of a fixed number of slots (the
 * cores, by default), so that a burst of logins — parallel guesses included — cannot start
 * more runs than the machine has cores and starve everything else; a short queue absorbs
 * ordinary bursts, and past it the answer is a 503 with `Retry-After: 1`.
 */
@Injectable()
export class PasswordService {
  private readonly slots: WorkSlots;

  constructor(config: AuthConfig) {
    const { concurrency, queue } = config.passwordHashing;
    this.slots = new WorkSlots(concurrency, queue);
  }

  /**
   * Verified against when the username is unknown, so that answer costs exactly as much as a
   * wrong password and response times do not reveal which usernames exist.
   */
  private readonly dummyHash = hash(randomBytes(32).toString('base64url'), ARGON2_OPTIONS);

  /** Hashes a new password; throws {@link PasswordWorkBusyException} when saturated. */
  hash(password: string): Promise<string> {
    return this.slots.run(() => hash(password, ARGON2_OPTIONS));
  }

  /**
   * Checks a password; with no stored hash, spends the same time and answers false. Throws
   * {@link PasswordWorkBusyException} (503) when every slot is busy and the queue is full.
   */
  async verify(storedHash: string | undefined, password: string): Promise<boolean> {
    const dummyHash = await this.dummyHash;
    return this.slots.run(async () => {
      try {
        const ok = await verify(storedHash ?? dummyHash, password);
        return ok && storedHash !== undefined;
      } catch {
        // A corrupt stored hash must read as a failed login, not as a server error.
        return false;
      }
    });
  }

  /** True when a hash was made with other parameters than today's. */
  needsRehash(storedHash: string): boolean {
    return !storedHash.startsWith(CURRENT_PARAMS);
  }
}
