import { randomBytes } from 'node:crypto';
import { Injectable } from '@nestjs/common';
import { Algorithm, hash, Options, verify } from '@node-rs/argon2';

import { clientNetwork, clientSite, NETWORKS_PER_SITE } from '@cloakroom/service-kit';

import { PasswordWorkBusyException } from '../common/password-work-busy.exception';
import { AuthConfig } from '../config/auth.config';
import { normalizeUsername } from './username';

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
 * Who asks for password work: the client address (what counts is its network, as the login
 * throttle counts it: an IPv4 address, an IPv6 /64, and for IPv6 its site, a /48) and the
 * username the request names.
 */
export interface PasswordWorkSource {
  ip: string;
  username: string;
}

/** A task waiting for a slot, and the places its source holds it under. */
interface Waiting {
  keys: readonly string[];
  start(): void;
  refuse(error: PasswordWorkBusyException): void;
}

/**
 * The share key of work that names no source (seeding, an administrator creating a user): one
 * source among the others, whose refusals are the 503 of a busy server, not a client's 429.
 */
const UNATTRIBUTED = ['-'];

/** The share keys of IPv6 sites start with it: see {@link weight}. */
const SITE = 's:';

/**
 * A source's share keys: its client network and its username, each counted on its own, and for
 * an IPv6 client its site (/48): a customer given a /48 would otherwise be 65,536 networks.
 */
function shareKeys(source: PasswordWorkSource | undefined): readonly string[] {
  if (!source) {
    return UNATTRIBUTED;
  }
  const keys = [`n:${clientNetwork(source.ip)}`, `u:${normalizeUsername(source.username)}`];
  const site = clientSite(source.ip);
  return site === undefined ? keys : [...keys, `${SITE}${site}`];
}

/**
 * At most `size` tasks at once, at most `queue` more waiting; beyond that a task is refused at
 * once instead of joining an ever longer line. The capacity is shared fairly between sources
 * (a client network, a username, an IPv6 site: each a share key, and a task weighs what the
 * busier of its keys holds, running and waiting; a site weighs what its tasks hold divided by
 * `NETWORKS_PER_SITE`, so a /48 counts for that many networks, however many /64s it uses):
 * - a task that finds the queue full pushes out the newest waiting task of the heaviest source,
 *   when that source holds more than the newcomer's would with it; the one pushed out is refused
 *   (429, over its share). Otherwise the newcomer is refused: 429 when its source already holds
 *   places, 503 when it holds none (the queue is full of sources as light as it: overload).
 *   Work naming no source is refused with 503 either way;
 * - a freed slot goes to the waiting task whose source runs the fewest tasks, then holds the
 *   fewest places, the earliest of those.
 * So one source may use all the capacity while nobody else asks, and a flood from one network
 * or one account cannot keep anyone else out: a task whose source holds nothing gets a place
 * whenever a waiting task's source holds two or more, and the next free slot. Running tasks are
 * never stopped: with no queue (`PASSWORD_HASH_QUEUE=0`) there is nothing to push out.
 */
class WorkSlots {
  private running = 0;
  private readonly waiting: Waiting[] = [];
  /** Places per share key: running and waiting tasks. */
  private readonly held = new Map<string, number>();
  /** Running tasks per share key. */
  private readonly runningBy = new Map<string, number>();

  constructor(
    private readonly size: number,
    private readonly queue: number,
  ) {}

  async run<T>(keys: readonly string[], task: () => Promise<T>): Promise<T> {
    if (this.running < this.size) {
      this.running++;
      count(this.held, keys, 1);
      count(this.runningBy, keys, 1);
    } else {
      if (this.waiting.length >= this.queue) {
        this.makeRoomFor(keys);
      }
      count(this.held, keys, 1);
      // The finishing task hands its slot over: `running` stays as it is.
      await new Promise<void>((start, refuse) => this.waiting.push({ keys, start, refuse }));
    }
    try {
      return await task();
    } finally {
      count(this.held, keys, -1);
      count(this.runningBy, keys, -1);
      this.startNext();
    }
  }

  /**
   * Hands a freed slot to the waiting task whose source runs the fewest tasks, then holds the
   * fewest places, the earliest of those; or frees the slot.
   */
  private startNext(): void {
    let next = -1;
    let fewest = [Infinity, Infinity];
    this.waiting.forEach((waiting, index) => {
      const load = [weight(this.runningBy, waiting.keys), weight(this.held, waiting.keys)];
      if (load[0] < fewest[0] || (load[0] === fewest[0] && load[1] < fewest[1])) {
        [next, fewest] = [index, load];
      }
    });
    if (next < 0) {
      this.running--;
      return;
    }
    const [chosen] = this.waiting.splice(next, 1);
    count(this.runningBy, chosen.keys, 1);
    chosen.start();
  }

  /**
   * Frees a place in the full queue for a task of `keys` by refusing the newest waiting task of
   * a source heavier than the newcomer would be, or refuses the newcomer.
   */
  private makeRoomFor(keys: readonly string[]): void {
    const newcomer = weight(this.held, keys);
    // Strictly heavier than the newcomer once admitted: two sources never push each other out
    // in turn, and a source never pushes out its own work.
    let heaviest = -1;
    let most = newcomer + 2;
    this.waiting.forEach((waiting, index) => {
      const held = weight(this.held, waiting.keys);
      if (held >= most) {
        [heaviest, most] = [index, held];
      }
    });
    if (heaviest < 0) {
      throw new PasswordWorkBusyException(1, false, newcomer > 0 && keys !== UNATTRIBUTED);
    }
    const [pushedOut] = this.waiting.splice(heaviest, 1);
    count(this.held, pushedOut.keys, -1);
    pushedOut.refuse(new PasswordWorkBusyException(1, false, pushedOut.keys !== UNATTRIBUTED));
  }
}

/** Adds `by` to the count of each key, forgetting keys that drop to nothing. */
function count(counts: Map<string, number>, keys: readonly string[], by: number): void {
  for (const key of keys) {
    const value = (counts.get(key) ?? 0) + by;
    if (value > 0) {
      counts.set(key, value);
    } else {
      counts.delete(key);
    }
  }
}

/** What the busier of `keys` holds; an IPv6 site's count is shared by that many networks. */
function weight(counts: Map<string, number>, keys: readonly string[]): number {
  return Math.max(
    ...keys.map((key) => (counts.get(key) ?? 0) / (key.startsWith(SITE) ? NETWORKS_PER_SITE : 1)),
  );
}

/**
 * Hashes and checks passwords. Every argon2 run takes one of a fixed number of slots (the
 * cores, by default), so that a burst of logins — parallel guesses included — cannot start
 * more runs than the machine has cores and starve everything else; a short queue absorbs
 * ordinary bursts, and past it the answer is a 503 with `Retry-After: 1`. The slots and the
 * queue are shared fairly between client networks and usernames (see `WorkSlots`): right
 * logins are not throttled, so without that one account, or one network, sending them as fast
 * as it can would keep every other user's login out.
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

  /**
   * Hashes a new password; throws {@link PasswordWorkBusyException} when saturated, or when
   * `source` holds more than its share then. Work without a source shares one among itself.
   */
  hash(password: string, source?: PasswordWorkSource): Promise<string> {
    return this.slots.run(shareKeys(source), () => hash(password, ARGON2_OPTIONS));
  }

  /**
   * Checks a password; with no stored hash, spends the same time and answers false. Throws
   * {@link PasswordWorkBusyException} when every slot is busy and the queue is full (503), or
   * when `source` holds more than its share then (429). The share is that of the username the
   * request names, whether or not it exists: an unknown one is held and refused alike.
   *
   * @example
   * await passwords.verify(user?.passwordHash, password, { ip: client.ip, username });
   */
  async verify(
    storedHash: string | undefined,
    password: string,
    source?: PasswordWorkSource,
  ): Promise<boolean> {
    const dummyHash = await this.dummyHash;
    return this.slots.run(shareKeys(source), async () => {
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
