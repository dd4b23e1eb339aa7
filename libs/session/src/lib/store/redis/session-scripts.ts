// eslint-disable-next-line @typescript-eslint/triple-slash-reference -- apps compile this file through the path alias, so the *.lua module type must travel with it
/// <reference path="./lua.d.ts" />
import { createHash } from 'node:crypto';

import { Cluster, Redis } from 'ioredis';

import appendEventsScript from './scripts/append-events.lua';
import createScript from './scripts/create.lua';
import keepScript from './scripts/keep.lua';
import listScript from './scripts/list.lua';
import patchScript from './scripts/patch.lua';
import prelude from './scripts/prelude.lua';
import raiseWatermarkScript from './scripts/raise-watermark.lua';
import revokeAllScript from './scripts/revoke-all.lua';
import revokeScript from './scripts/revoke.lua';
import rotateScript from './scripts/rotate.lua';
import setRolesScript from './scripts/set-roles.lua';
import sweepScript from './scripts/sweep.lua';
import undoCreateScript from './scripts/undo-create.lua';
import undoRotateScript from './scripts/undo-rotate.lua';
import userChanges from './scripts/user-changes.lua';
import validateScript from './scripts/validate.lua';
import validateV1Script from './scripts/validate.v1.lua';
import validateV2Script from './scripts/validate.v2.lua';
import validateV3Script from './scripts/validate.v3.lua';
import { LUA_FIELDS } from './session-fields';

/**
 * Every script runs after the field names, the shared prelude (clock, argument checks) and the
 * helpers of a user's record of changes (`user-changes.lua`). `flags` (Redis 7 script flags,
 * e.g. `allow-oom`) become the shebang line Redis reads first.
 */
function withPrelude(script: string, flags?: string): string {
  const shebang = flags ? `#!lua flags=${flags}\n` : '';
  return `${shebang}${LUA_FIELDS}${prelude}\n${userChanges}\n${script}`;
}

/**
 * An earlier release's script as that release registered it, byte for byte: the field names
 * and the prelude, without what came after them (`user-changes.lua`).
 */
function asPreviouslyRegistered(script: string): string {
  return `${LUA_FIELDS}${prelude}\n${script}`;
}

/** The scripts, each run by EVALSHA through the methods `installSessionScripts` adds. */
export const SESSION_SCRIPTS = {
  cloakroomValidate: { lua: withPrelude(validateScript), numberOfKeys: 1 },
  cloakroomCreate: { lua: withPrelude(createScript), numberOfKeys: 3 },
  cloakroomUndoCreate: { lua: withPrelude(undoCreateScript), numberOfKeys: 3 },
  cloakroomRotate: { lua: withPrelude(rotateScript), numberOfKeys: 2 },
  cloakroomUndoRotate: { lua: withPrelude(undoRotateScript), numberOfKeys: 2 },
  cloakroomRevoke: { lua: withPrelude(revokeScript), numberOfKeys: 2 },
  cloakroomRevokeAll: { lua: withPrelude(revokeAllScript, 'allow-oom'), numberOfKeys: 3 },
  cloakroomSetRoles: { lua: withPrelude(setRolesScript, 'allow-oom'), numberOfKeys: 3 },
  cloakroomList: { lua: withPrelude(listScript), numberOfKeys: 2 },
  cloakroomPatch: { lua: withPrelude(patchScript), numberOfKeys: 1 },
  cloakroomSweep: { lua: withPrelude(sweepScript), numberOfKeys: 1 },
  cloakroomKeep: { lua: withPrelude(keepScript), numberOfKeys: 2 },
  cloakroomRaiseWatermark: { lua: withPrelude(raiseWatermarkScript), numberOfKeys: 1 },
  cloakroomAppendEvents: { lua: withPrelude(appendEventsScript, 'allow-oom'), numberOfKeys: 1 },
} as const;

export type SessionScriptName = keyof typeof SESSION_SCRIPTS;

/**
 * Scripts earlier releases call and this one no longer does, kept byte for byte (their SHA is
 * what those releases send): loaded with the others, never called. During a rolling deploy,
 * services still running an earlier release validate by EVALSHA only; once the owner runs this
 * release, it is the one that reloads their script after a Redis restart or failover empties
 * the script cache. `validate.v1.lua` answers the whole hash as a flat array; `validate.v2.lua`
 * answers one string but, in a session's last idle window, its creation as its last touch;
 * `validate.v3.lua` answers no record of the owner's changes.
 * Remove each once no service runs a release that calls it.
 */
export const PREVIOUS_SCRIPTS: readonly string[] = [
  asPreviouslyRegistered(validateV1Script),
  asPreviouslyRegistered(validateV2Script),
  asPreviouslyRegistered(validateV3Script),
];

/**
 * Loads every script into the script cache of every master, so that services whose Redis user
 * may only call scripts by SHA (EVALSHA, never EVAL: see `sessionAclRules`) find them there.
 * The owner of the sessions (auth) does it each time its connection becomes ready — after a
 * restart or a failover, the cache is empty. A user without SCRIPT LOAD is refused quietly:
 * it relies on the owner's load.
 */
export async function loadSessionScripts(client: Redis | Cluster): Promise<void> {
  const nodes = client instanceof Cluster ? client.nodes('master') : [client];
  await Promise.all(
    nodes.flatMap((node) =>
      [...Object.values(SESSION_SCRIPTS).map(({ lua }) => lua), ...PREVIOUS_SCRIPTS].map((lua) =>
        node.script('LOAD', lua).catch(() => undefined),
      ),
    ),
  );
}

/** How often a store checks that Redis still holds the scripts (see `watchScriptCache`). */
const SCRIPT_CACHE_CHECK_MS = 5_000;

/** The SHA validators call: the script whose absence refuses every guarded request. */
const VALIDATE_SHA = createHash('sha1').update(SESSION_SCRIPTS.cloakroomValidate.lua).digest('hex');

/**
 * Loads the scripts again, within `everyMs`, into a master whose script cache lost them while
 * the connection stayed up (`SCRIPT FLUSH`): no reconnection says so, and a validator, which
 * may not load them, answers 503 to every request until the owner's own next script call
 * finds NOSCRIPT — never, while nobody logs in or out. One `SCRIPT EXISTS` per master each
 * time. A Redis user refused it (a validator: NOPERM) stops checking at once, so that its
 * refusals do not fill the ACL log. Returns a stop.
 */
export function watchScriptCache(
  client: Redis | Cluster,
  everyMs = SCRIPT_CACHE_CHECK_MS,
): () => void {
  const check = async (node: Redis): Promise<void> => {
    const [held] = (await node.script('EXISTS', VALIDATE_SHA)) as number[];
    if (!held) {
      await loadSessionScripts(node);
    }
  };
  const timer = setInterval(() => {
    if (client.status !== 'ready') {
      return;
    }
    const nodes = client instanceof Cluster ? client.nodes('master') : [client];
    for (const node of nodes) {
      check(node).catch((error: Error) => {
        if (error.message.startsWith('NOPERM')) {
          clearInterval(timer);
        }
      });
    }
  }, everyMs);
  timer.unref();
  return () => clearInterval(timer);
}

type ScriptReply = string | number | null | ScriptReply[];

/**
 * Adds one method per script to the client (`client.cloakroomValidate(...keys, ...args)`), each
 * sent as EVALSHA only — ioredis' `defineCommand` sends EVAL the first time on every
 * connection, which a `validator` Redis user may not run. On NOSCRIPT (an empty script cache
 * after a restart or failover) it loads the scripts (an owner may; a validator's attempt is
 * refused quietly and it waits for the owner's) and tries once more.
 */
export function installSessionScripts(client: Redis | Cluster): void {
  for (const [name, script] of Object.entries(SESSION_SCRIPTS)) {
    const sha = createHash('sha1').update(script.lua).digest('hex');
    const call = (...args: Array<string | number>): Promise<ScriptReply> =>
      client.evalsha(sha, script.numberOfKeys, ...args) as Promise<ScriptReply>;
    Object.defineProperty(client, name, {
      configurable: true,
      value: (...args: Array<string | number>) =>
        call(...args).catch(async (error: Error) => {
          if (!error.message.startsWith('NOSCRIPT')) {
            throw error;
          }
          await loadSessionScripts(client);
          return call(...args);
        }),
    });
  }
}
