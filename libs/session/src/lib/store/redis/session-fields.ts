import type { Session } from '../../session.types';
import { isReadableAttribute } from '../attribute-names';
import type { NewSessionRecord } from '../session-store.interface';
import { noteChangesSeen } from '../user-changes';

/**
 * The fields of a session hash: the one place that names them. Short names keep the hash in
 * Redis's compact encoding; the Lua scripts get the same names through `LUA_FIELDS`.
 */
export const SessionField = {
  userId: 'u',
  username: 'n',
  roles: 'r',
  version: 'v',
  createdAt: 'c',
  lastSeenAt: 't',
  absoluteExpiresAt: 'x',
  /** The session's own idle timeout (ms): it slides by it whichever service validates it. */
  idleTimeout: 'i',
  /**
   * When the user last proved who they are, written by rotate.lua when asked; absent, the
   * session's creation (create.lua leaves it out to save memory).
   */
  authenticatedAt: 'l',
  /** '1' for a remembered session (created with the `remember` timeouts); absent otherwise. */
  persistent: 'p',
  /** The client's short label, at most 64 bytes (`SessionMeta.device`). */
  device: 'd',
  ip: 'ip',
  /** First chunk of the user agent; the next ones are `ua1`, `ua2`… */
  userAgent: 'ua',
} as const;

/** Prefix of app attribute fields (`a:<name>`): the only fields a patch may write. */
export const ATTRIBUTE_PREFIX = 'a:';

// 3: sessions carry `authenticatedAt` (`l`), `persistent` (`p`) and `device` (`d`); 2 had none
// (its sessions read as authenticated at creation, not persistent). 2: sessions carry their own
// idle timeout (`i`); 1 had none and slid by the caller's.
const SCHEMA_VERSION = '3';

/**
 * Redis keeps a small hash in the compact listpack encoding only while every value is at most
 * `hash-max-listpack-value` bytes (64 by default); one longer value turns the whole hash into a
 * hashtable, about twice the memory. A user agent is usually longer, so it is stored in chunks
 * `ua`, `ua1`, `ua2`… of at most this many characters.
 */
const USER_AGENT_CHUNK = 60;

/** A Lua table declaring the field names, prepended to every script with the prelude. */
export const LUA_FIELDS = `local FIELD = { ${Object.entries({
  ...SessionField,
  attributePrefix: ATTRIBUTE_PREFIX,
})
  .map(([name, field]) => `${name} = '${field}'`)
  .join(', ')} }\n`;

/**
 * Field/value pairs of a new session's hash; the script adds the timestamps. The raw user agent
 * is written only with `keepUserAgent` (the `device` label always is).
 */
export function encodeNewSession(record: NewSessionRecord, keepUserAgent: boolean): string[] {
  const fields: string[] = [
    SessionField.userId,
    record.user.id,
    SessionField.username,
    record.user.username,
    SessionField.roles,
    encodeRoles(record.user.roles),
    SessionField.version,
    SCHEMA_VERSION,
  ];
  if (record.persistent) fields.push(SessionField.persistent, '1');
  if (record.device) fields.push(SessionField.device, record.device);
  if (record.ip) fields.push(SessionField.ip, record.ip);
  if (record.userAgent && keepUserAgent) fields.push(...userAgentFields(record.userAgent));
  for (const [name, value] of Object.entries(record.attributes)) {
    if (value !== undefined) fields.push(ATTRIBUTE_PREFIX + name, JSON.stringify(value));
  }
  return fields;
}

/**
 * The timestamp and policy fields `create.lua` writes, for decoding a session without reading
 * it back.
 */
export function timestampFields(
  createdAt: number,
  idleTimeoutMs: number,
  absoluteTimeoutMs: number,
): string[] {
  const now = String(createdAt);
  return [
    SessionField.createdAt,
    now,
    SessionField.lastSeenAt,
    now,
    SessionField.absoluteExpiresAt,
    String(createdAt + absoluteTimeoutMs),
    SessionField.idleTimeout,
    String(idleTimeoutMs),
  ];
}

export function encodeRoles(roles: string[]): string {
  return JSON.stringify(roles);
}

/** Attribute changes as fields to set (pairs) and fields to remove (undefined values). */
export function encodeAttributeChanges(attributes: Record<string, unknown>): {
  set: string[];
  remove: string[];
} {
  const set: string[] = [];
  const remove: string[] = [];
  for (const [name, value] of Object.entries(attributes)) {
    if (value === undefined) remove.push(ATTRIBUTE_PREFIX + name);
    else set.push(ATTRIBUTE_PREFIX + name, JSON.stringify(value));
  }
  return { set, remove };
}

/**
 * A session from its hash as a flat field/value array; null for a hash without an owner or
 * without roles as this library writes them (a JSON array of strings): one damaged by hand or
 * by another writer must not pass for a session (roles read as a string would match any role
 * they contain). `fallbackIdleTimeoutMs` applies only to sessions written before they carried
 * their own idle timeout.
 */
export function decodeSession(
  id: string,
  flat: string[],
  fallbackIdleTimeoutMs: number,
): Session | null {
  let idleTimeoutMs = fallbackIdleTimeoutMs;
  let authenticatedAt: number | undefined;
  let roles: string[] | null = null;
  const session: Session = {
    id,
    userId: '',
    username: '',
    roles: [],
    createdAt: 0,
    authenticatedAt: 0,
    lastSeenAt: 0,
    expiresAt: 0,
    absoluteExpiresAt: 0,
    persistent: false,
    attributes: {},
  };
  const userAgent: string[] = [];
  for (let i = 0; i < flat.length; i += 2) {
    const field = flat[i];
    const value = flat[i + 1];
    switch (field) {
      case SessionField.userId:
        session.userId = value;
        break;
      case SessionField.username:
        session.username = value;
        break;
      case SessionField.roles:
        roles = parseRoles(value);
        break;
      case SessionField.createdAt:
        session.createdAt = Number(value);
        break;
      case SessionField.lastSeenAt:
        session.lastSeenAt = Number(value);
        break;
      case SessionField.absoluteExpiresAt:
        session.absoluteExpiresAt = Number(value);
        break;
      case SessionField.idleTimeout:
        idleTimeoutMs = Number(value) || fallbackIdleTimeoutMs;
        break;
      case SessionField.authenticatedAt:
        authenticatedAt = Number(value);
        break;
      case SessionField.persistent:
        session.persistent = value === '1';
        break;
      case SessionField.device:
        session.device = value;
        break;
      case SessionField.ip:
        session.ip = value;
        break;
      case SessionField.userAgent:
        userAgent[0] = value;
        break;
      default:
        if (field.startsWith(SessionField.userAgent)) {
          userAgent[Number(field.slice(SessionField.userAgent.length))] = value;
        } else if (field.startsWith(ATTRIBUTE_PREFIX)) {
          const name = field.slice(ATTRIBUTE_PREFIX.length);
          if (isReadableAttribute(name)) session.attributes[name] = parseJson(value, null);
        }
    }
  }
  if (!session.userId || !roles) {
    return null;
  }
  session.roles = roles;
  if (userAgent.length) {
    session.userAgent = userAgent.join('');
  }
  // Sessions written before schema 3 were last authenticated when they were created.
  session.authenticatedAt = authenticatedAt || session.createdAt;
  session.expiresAt = Math.min(session.lastSeenAt + idleTimeoutMs, session.absoluteExpiresAt);
  return session;
}

/**
 * The session `validate.lua` answers as one string: values separated by NUL bytes at fixed
 * positions (user id, username, roles, created, last touch, absolute deadline, idle timeout,
 * last authentication, persistent, device, ip, user agent, the owner's record of changes, then
 * attribute name/value pairs), absent ones empty. Decodes to the same `Session` as
 * `decodeSession` of the whole hash, null included; the record of changes is noted with it
 * (`changesSeenWith`).
 */
export function decodeValidated(
  id: string,
  reply: string,
  fallbackIdleTimeoutMs: number,
): Session | null {
  const values = reply.split('\0');
  const roles = parseRoles(values[2]);
  if (!values[0] || !roles) {
    return null;
  }
  const createdAt = Number(values[3]);
  const lastSeenAt = Number(values[4]);
  const absoluteExpiresAt = Number(values[5]);
  const idleTimeoutMs = Number(values[6]) || fallbackIdleTimeoutMs;
  const session: Session = {
    id,
    userId: values[0],
    username: values[1],
    roles,
    createdAt,
    // Sessions written before schema 3 were last authenticated when they were created.
    authenticatedAt: Number(values[7]) || createdAt,
    lastSeenAt,
    expiresAt: Math.min(lastSeenAt + idleTimeoutMs, absoluteExpiresAt),
    absoluteExpiresAt,
    persistent: values[8] === '1',
    attributes: {},
  };
  // Absent fields stay absent, as `decodeSession` leaves them (a store never writes them empty).
  if (values[9]) session.device = values[9];
  if (values[10]) session.ip = values[10];
  if (values[11]) session.userAgent = values[11];
  noteChangesSeen(session, values[12] ?? '');
  for (let i = VALIDATED_ATTRIBUTES; i < values.length; i += 2) {
    if (isReadableAttribute(values[i]))
      session.attributes[values[i]] = parseJson(values[i + 1], null);
  }
  return session;
}

/** Position of the first attribute name in `validate.lua`'s string reply. */
const VALIDATED_ATTRIBUTES = 13;

function userAgentFields(userAgent: string): string[] {
  const fields: string[] = [];
  for (let start = 0, part = 0; start < userAgent.length; start += USER_AGENT_CHUNK, part++) {
    fields.push(
      part ? `${SessionField.userAgent}${part}` : SessionField.userAgent,
      userAgent.slice(start, start + USER_AGENT_CHUNK),
    );
  }
  return fields;
}

/** Roles as this library writes them, a JSON array of strings; null for anything else. */
function parseRoles(value: string): string[] | null {
  const roles = parseJson(value, null);
  return Array.isArray(roles) && roles.every((role) => typeof role === 'string') ? roles : null;
}

function parseJson(value: string, fallback: unknown): unknown {
  try {
    return JSON.parse(value);
  } catch {
    return fallback;
  }
}
