// eslint-disable-next-line @typescript-eslint/triple-slash-reference -- apps compile this file through the path alias, so the *.lua module type must travel with it
/// <reference path="./lua.d.ts" />
import createScript from './scripts/create.lua';
import listScript from './scripts/list.lua';
import patchScript from './scripts/patch.lua';
import prelude from './scripts/prelude.lua';
import revokeAllScript from './scripts/revoke-all.lua';
import revokeScript from './scripts/revoke.lua';
import rotateScript from './scripts/rotate.lua';
import setRolesScript from './scripts/set-roles.lua';
import validateScript from './scripts/validate.lua';
import { LUA_FIELDS } from './session-fields';

/** Every script runs after the field names and the shared prelude (clock, argument checks). */
function withPrelude(script: string): string {
  return `${LUA_FIELDS}${prelude}\n${script}`;
}

/**
 * The scripts as ioredis custom commands: registered once per client with `defineCommand`,
 * then called by EVALSHA (ioredis loads a script again after a NOSCRIPT reply).
 */
export const SESSION_SCRIPTS = {
  cloakroomValidate: { lua: withPrelude(validateScript), numberOfKeys: 1 },
  cloakroomCreate: { lua: withPrelude(createScript), numberOfKeys: 3 },
  cloakroomRotate: { lua: withPrelude(rotateScript), numberOfKeys: 2 },
  cloakroomRevoke: { lua: withPrelude(revokeScript), numberOfKeys: 1 },
  cloakroomRevokeAll: { lua: withPrelude(revokeAllScript), numberOfKeys: 2 },
  cloakroomSetRoles: { lua: withPrelude(setRolesScript), numberOfKeys: 2 },
  cloakroomList: { lua: withPrelude(listScript), numberOfKeys: 1 },
  cloakroomPatch: { lua: withPrelude(patchScript), numberOfKeys: 1 },
} as const;

export type SessionScriptName = keyof typeof SESSION_SCRIPTS;
