import { validateEnv } from '@cloakroom/service-kit';

import { PasswordWorkBusyException } from '../common/password-work-busy.exception';
import { AuthConfig } from '../config/auth.config';
import { AuthEnv } from '../config/auth.env';
import { PasswordService } from './password.service';

function passwordService(env: Record<string, string> = {}): PasswordService {
  return new PasswordService(new AuthConfig(validateEnv(AuthEnv, env)));
}

describe('PasswordService', () => {
  const passwords = passwordService();

  it('hashes with argon2id at the documented parameters, salted', async () => {
    const first = await passwords.hash('correct horse');
    const second = await passwords.hash('correct horse');
    expect(first).toMatch(/^\$argon2id\$v=19\$m=19456,t=2,p=1\$/);
    expect(second).not.toBe(first);
    expect(passwords.needsRehash(first)).toBe(false);
  });

  it('verifies the right password only', async () => {
    const stored = await passwords.hash('correct horse');
    await expect(passwords.verify(stored, 'correct horse')).resolves.toBe(true);
    await expect(passwords.verify(stored, 'wrong horse')).resolves.toBe(false);
  });

  it('answers false after a real argon2id check when there is no stored hash', async () => {
    const argon2 = jest.requireActual('@node-rs/argon2');
    const spy = jest.spyOn(argon2, 'verify');
    await expect(passwords.verify(undefined, 'anything')).resolves.toBe(false);
    expect(spy).toHaveBeenCalledWith(
      expect.stringMatching(/^\$argon2id\$v=19\$m=19456,t=2,p=1\$/),
      'anything',
    );
    spy.mockRestore();
  });

  it('reads a corrupt stored hash as a failed check, not an error', async () => {
    await expect(passwords.verify('not-a-hash', 'anything')).resolves.toBe(false);
  });

  it('asks for a rehash of hashes made with other parameters', () => {
    expect(passwords.needsRehash('$argon2id$v=19$m=4096,t=3,p=1$c2FsdA$aGFzaA')).toBe(true);
  });

  it('runs no more argon2 checks at once than its slots, queues a few, refuses the rest with 503', async () => {
    const limited = passwordService({ PASSWORD_HASH_CONCURRENCY: '2', PASSWORD_HASH_QUEUE: '3' });
    const stored = await passwords.hash('correct horse');
    const argon2 = jest.requireActual('@node-rs/argon2');
    const real = argon2.verify;
    let running = 0;
    let most = 0;
    const spy = jest.spyOn(argon2, 'verify').mockImplementation(async (...args: unknown[]) => {
      running++;
      most = Math.max(most, running);
      try {
        return await real(...args);
      } finally {
        running--;
      }
    });
    try {
      const results = await Promise.allSettled(
        Array.from({ length: 9 }, (_, i) =>
          limited.verify(i % 2 ? stored : undefined, 'correct horse'),
        ),
      );
      const refused = results.filter((result) => result.status === 'rejected');
      expect(results.filter((result) => result.status === 'fulfilled')).toHaveLength(5);
      expect(refused).toHaveLength(4);
      for (const result of refused) {
        const error = (result as PromiseRejectedResult).reason;
        expect(error).toBeInstanceOf(PasswordWorkBusyException);
        expect(error.getStatus()).toBe(503);
        expect(error.retryAfterSeconds).toBe(1);
      }
      expect(most).toBe(2);
      expect(spy).toHaveBeenCalledTimes(5);
      // The slots are all free again afterwards.
      await expect(limited.verify(stored, 'correct horse')).resolves.toBe(true);
    } finally {
      spy.mockRestore();
    }
  });
});
