import { randomBytes } from 'node:crypto';
import { Injectable } from '@nestjs/common';
import { Algorithm, hash, Options, verify } from '@node-rs/argon2';

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

@Injectable()
export class PasswordService {
  /**
   * Verified against when the username is unknown, so that answer costs exactly as much as a
   * wrong password and response times do not reveal which usernames exist.
   */
  private readonly dummyHash = hash(randomBytes(32).toString('base64url'), ARGON2_OPTIONS);

  hash(password: string): Promise<string> {
    return hash(password, ARGON2_OPTIONS);
  }

  /** Checks a password; with no stored hash, spends the same time and answers false. */
  async verify(storedHash: string | undefined, password: string): Promise<boolean> {
    try {
      const ok = await verify(storedHash ?? (await this.dummyHash), password);
      return ok && storedHash !== undefined;
    } catch {
      // A corrupt stored hash must read as a failed login, not as a server error.
      return false;
    }
  }

  /** True when a hash was made with other parameters than today's. */
  needsRehash(storedHash: string): boolean {
    return !storedHash.startsWith(CURRENT_PARAMS);
  }
}
