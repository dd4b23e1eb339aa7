import { BadRequestException, Injectable } from '@nestjs/common';
import { ZxcvbnFactory } from '@zxcvbn-ts/core';
import * as common from '@zxcvbn-ts/language-common';
import * as english from '@zxcvbn-ts/language-en';

import {
  normalizePassword,
  PASSWORD_MAX_LENGTH,
  PASSWORD_MIN_LENGTH,
  passwordLength,
} from './password-policy';

/** zxcvbn's 0-4 scale: 3 is "safely unguessable: moderate protection from offline attacks". */
const MIN_SCORE = 3;

/**
 * zxcvbn judges at most this many leading code points. Its matchers are superlinear: some
 * 128-character inputs (repeated keyboard walks) take seconds of the event loop, 24 take tens
 * of milliseconds. A strong start makes a strong password (characters only add guesses), so
 * judging the start alone refuses more, never less.
 */
const CHECKED_LENGTH = 24;

/**
 * A lone UTF-16 surrogate (JSON spells one as `"\ud800"`): no character. argon2 hashes the
 * UTF-8 of a password, in which every one of them is U+FFFD, so the strength check would judge
 * characters that are not the ones stored: twelve different ones pass as random, and twelve
 * U+FFFD then sign in.
 */
const LONE_SURROGATE = /\p{Cs}/u;

/** Words an attacker of this service tries first, whoever the user is. */
const SERVICE_WORDS = ['cloakroom'];

/** What a new password is checked against besides the dictionaries. */
export interface PasswordContext {
  username: string;
  /** The password it replaces, when the user changes their own. */
  currentPassword?: string;
}

/**
 * The password rules (ASVS 5.0 V6, NIST SP 800-63B): 12 to 128 characters (code points of the
 * NFKC form, the one hashed: login takes every form of such a password), any Unicode (well
 * formed: no lone surrogate), refused when zxcvbn-ts scores it (its first 24 characters) below
 * 3 with the common-password and English dictionaries and the username (and its parts) as
 * context words, and a new password must differ from the current one. No composition rules:
 * they do not make passwords stronger.
 *
 * @example
 * policy.assertAcceptable(body.password, { username: body.username });
 */
@Injectable()
export class PasswordPolicyService {
  // Levenshtein matching is left off: it costs ~0.5 s of the event loop per check.
  private readonly zxcvbn = new ZxcvbnFactory({
    dictionary: { ...common.dictionary, ...english.dictionary },
    graphs: common.adjacencyGraphs,
    translations: english.translations,
  });

  /** Throws 400 with every reason the password is refused, in plain words. */
  assertAcceptable(password: string, context: PasswordContext): void {
    const problems = this.problemsOf(password, context);
    if (problems.length) {
      throw new BadRequestException(problems);
    }
  }

  problemsOf(password: string, context: PasswordContext): string[] {
    if (LONE_SURROGATE.test(password)) {
      return ['password is not valid Unicode: it holds a lone surrogate, which is no character'];
    }
    const length = passwordLength(password);
    if (length < PASSWORD_MIN_LENGTH) {
      return [`password must be at least ${PASSWORD_MIN_LENGTH} characters long`];
    }
    if (length > PASSWORD_MAX_LENGTH) {
      return [`password must be at most ${PASSWORD_MAX_LENGTH} characters long`];
    }
    const normalized = normalizePassword(password);
    if (
      context.currentPassword !== undefined &&
      normalized === normalizePassword(context.currentPassword)
    ) {
      return ['the new password must differ from the current one'];
    }
    const start = [...normalized].slice(0, CHECKED_LENGTH).join('');
    const result = this.zxcvbn.check(start, contextWords(context.username));
    if (result.score >= MIN_SCORE) {
      return [];
    }
    const warning = result.feedback.warning?.replace(/\.$/, '');
    return [
      warning
        ? `password is too easy to guess (${lowerFirst(warning)})`
        : 'password is too easy to guess: use a longer phrase of unrelated words',
    ];
  }
}

/** The username and its parts: "carol.smith" also makes "carol" and "smith" cheap guesses. */
function contextWords(username: string): string[] {
  const lower = username.toLowerCase();
  const parts = lower.split(/[._-]+/).filter((part) => part.length >= 3);
  return [...new Set([lower, ...parts, ...SERVICE_WORDS])];
}

function lowerFirst(text: string): string {
  return text.charAt(0).toLowerCase() + text.slice(1);
}
