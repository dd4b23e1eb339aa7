import { BadRequestException } from '@nestjs/common';

import { fitsPasswordLength, normalizePassword, passwordLength } from './password-policy';
import { PasswordPolicyService } from './password-policy.service';

describe('PasswordPolicyService', () => {
  const policy = new PasswordPolicyService();
  const username = 'carol.smith';

  it.each([
    ['eleven characters', 'Zq8!fjw-27L', /at least 12 characters/],
    ['129 characters', 'Zq8!fjw-27Lm_x'.repeat(10).slice(0, 129), /at most 128 characters/],
    ['a common password', 'password1234', /too easy to guess/],
    ['a keyboard walk', 'qwertyuiop12', /too easy to guess/],
    ['the username made longer', 'carol.smith2024', /too easy to guess/],
    ['a part of the username repeated', 'smithsmith123', /too easy to guess/],
    ['the service name', 'cloakroom1234', /too easy to guess/],
    ['one repeated character', 'a'.repeat(40), /too easy to guess/],
  ])('refuses %s', (_case, password, reason) => {
    expect(policy.problemsOf(password, { username })).toEqual([expect.stringMatching(reason)]);
  });

  it('counts code points, not UTF-16 units: 11 emoji are too short, 128 are accepted', () => {
    expect(policy.problemsOf('😀🐢🌵🎻🚲🧊🦉🍋🪐🧲🎯', { username })).toEqual([
      expect.stringMatching(/at least 12/),
    ]);
    const varied = [...'🐢🌵🎻🚲🧊🦉🍋🪐🧲🎯🦔🪁🥝🪗🛶🧶'];
    const long = Array.from({ length: 128 }, (_, i) => varied[(i * 7) % varied.length]).join('');
    expect(long.length).toBe(256);
    expect(policy.problemsOf(long, { username })).toEqual([]);
  });

  it('refuses a lone surrogate, which argon2 would store as U+FFFD, and accepts a pair', () => {
    const highs = Array.from({ length: 12 }, (_, i) => String.fromCharCode(0xd800 + i * 89));
    expect(policy.problemsOf(highs.join(''), { username })).toEqual([
      expect.stringMatching(/not valid Unicode/),
    ]);
    expect(policy.problemsOf(`vélo ferry rhubarb \udfff quantum`, { username })).toEqual([
      expect.stringMatching(/not valid Unicode/),
    ]);
    expect(policy.problemsOf('vélo ferry rhubarb \ud83d\udc22 quantum', { username })).toEqual([]);
  });

  it('accepts a long phrase in any script', () => {
    expect(policy.problemsOf('Grüße aus Köln — 雪の朝 ☃', { username })).toEqual([]);
    expect(policy.problemsOf('vélo ferry rhubarb quantum', { username })).toEqual([]);
  });

  it('refuses the current password again, even typed in another Unicode form', () => {
    const composed = 'Caf\u00e9 ferry rhubarb quantum';
    const decomposed = 'Cafe\u0301 ferry rhubarb quantum';
    expect(policy.problemsOf(decomposed, { username, currentPassword: composed })).toEqual([
      'the new password must differ from the current one',
    ]);
  });

  it('judges the first 24 characters: a weak start is refused whatever follows, a strong one accepted', () => {
    expect(policy.problemsOf(`${'1qaz2wsx'.repeat(3)}Zq8!fjw-27Lm_x`, { username })).toEqual([
      expect.stringMatching(/too easy to guess/),
    ]);
    expect(
      policy.problemsOf(`vélo ferry rhubarb quantum${'1qaz2wsx'.repeat(12)}`, { username }),
    ).toEqual([]);
  });

  it('counts the normalised form: a decomposed password is as long as its composed form', () => {
    const composed = [...'vélo ferry rhubarb quantum é'.repeat(5)].slice(0, 128).join('');
    const decomposed = composed.normalize('NFD');
    expect([...decomposed].length).toBeGreaterThan(128);
    expect(policy.problemsOf(decomposed, { username })).toEqual([]);
    // A ligature is three letters once normalised: 50 of them are 150 characters.
    expect(policy.problemsOf(`vélo ferry ${'\uFB03'.repeat(50)}`, { username })).toEqual([
      expect.stringMatching(/at most 128/),
    ]);
  });

  it('lets a password to check be as long as an accepted one in any form, no longer', () => {
    const composed = 'é'.repeat(128);
    expect(fitsPasswordLength(composed.normalize('NFD'))).toBe(true);
    expect(fitsPasswordLength(composed)).toBe(true);
    expect(fitsPasswordLength('é'.repeat(129).normalize('NFD'))).toBe(false);
    expect(fitsPasswordLength('x'.repeat(129))).toBe(false);
    // Set when the policy counted as typed: 100 ligatures still sign in as typed.
    expect(fitsPasswordLength('\uFB03'.repeat(100))).toBe(true);
  });

  it('throws a 400 listing the reason', () => {
    expect(() => policy.assertAcceptable('short', { username })).toThrow(BadRequestException);
  });

  it('normalises to NFKC and counts code points', () => {
    expect(normalizePassword('\uFB01sh')).toBe('fish');
    expect(normalizePassword('ＡＢＣ１２３')).toBe('ABC123');
    expect(passwordLength('a😀b')).toBe(3);
    expect(passwordLength('\uFB01sh')).toBe(4);
  });
});
