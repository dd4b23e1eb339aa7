import { createPrivateKey, createPublicKey, KeyObject } from 'node:crypto';

import type { SessionAssertionOptions } from '../config/session-options.interface';

const DEFAULT_TTL_SECONDS = 30;
/**
 * The longest lifetime a receiver accepts, whatever the sender was configured with.
 *
 * @example
 * assertions: { service: 'orders', signingKey, ttl: MAX_ASSERTION_TTL_SECONDS }
 */
export const MAX_ASSERTION_TTL_SECONDS = 60;
const DEFAULT_CLOCK_SKEW_SECONDS = 5;

/** The `assertions` option with its keys parsed and its defaults applied; durations in ms. */
export interface SessionAssertionSettings {
  /** This service's name; null when `assertions` is off. */
  service: string | null;
  signingKey: { kid: string; key: KeyObject } | null;
  trusted: ReadonlyMap<string, { issuer: string; key: KeyObject }>;
  ttlMs: number;
  skewMs: number;
  /** Messages whose transport names no sender are refused. */
  requirePeer: boolean;
}

/**
 * Parses and checks `assertions` at start-up, with the other options: before the store, and
 * so before a Redis client exists that a refused key would leave open.
 */
export function resolveAssertionSettings(
  settings: SessionAssertionOptions | undefined,
): SessionAssertionSettings {
  const resolved = {
    service: settings?.service ?? null,
    signingKey: settings?.signingKey ? signingKeyOf(settings.signingKey) : null,
    trusted: trustedKeysOf(settings?.trustedKeys ?? []),
    ttlMs: secondsOption(settings, 'ttl', DEFAULT_TTL_SECONDS, MAX_ASSERTION_TTL_SECONDS),
    skewMs: secondsOption(settings, 'clockSkew', DEFAULT_CLOCK_SKEW_SECONDS, 60),
    requirePeer: settings?.requirePeer === true,
  };
  if (settings && (typeof settings.service !== 'string' || settings.service === '')) {
    throw new Error('SessionModule: `assertions.service` must name this service');
  }
  return resolved;
}

function signingKeyOf(option: NonNullable<SessionAssertionOptions['signingKey']>): {
  kid: string;
  key: KeyObject;
} {
  const key =
    option.privateKey instanceof KeyObject
      ? option.privateKey
      : createPrivateKey(option.privateKey);
  requireEd25519(key, `signing key ${option.kid}`);
  return { kid: option.kid, key };
}

function trustedKeysOf(
  keys: NonNullable<SessionAssertionOptions['trustedKeys']>,
): Map<string, { issuer: string; key: KeyObject }> {
  const trusted = new Map<string, { issuer: string; key: KeyObject }>();
  for (const { kid, issuer, publicKey } of keys) {
    if (trusted.has(kid)) {
      throw new Error(`SessionModule: two trusted assertion keys share the id ${kid}`);
    }
    const key = publicKey instanceof KeyObject ? publicKey : createPublicKey(publicKey);
    requireEd25519(key, `trusted key ${kid}`);
    trusted.set(kid, { issuer, key });
  }
  return trusted;
}

function requireEd25519(key: KeyObject, name: string): void {
  if (key.asymmetricKeyType !== 'ed25519') {
    throw new Error(`SessionModule: assertion ${name} must be an Ed25519 key`);
  }
}

function secondsOption(
  settings: SessionAssertionOptions | undefined,
  name: 'ttl' | 'clockSkew',
  fallback: number,
  max: number,
): number {
  const seconds = settings?.[name] ?? fallback;
  if (!(seconds > 0 && seconds <= max)) {
    throw new Error(
      `SessionModule: \`assertions.${name}\` must be a number of seconds in (0, ${max}]`,
    );
  }
  return Math.round(seconds * 1000);
}
