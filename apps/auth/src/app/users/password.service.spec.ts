import { PasswordService } from './password.service';

describe('PasswordService', () => {
  const passwords = new PasswordService();

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
});
