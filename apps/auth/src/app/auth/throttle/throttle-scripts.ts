// eslint-disable-next-line @typescript-eslint/triple-slash-reference -- the *.lua module type
/// <reference path="./lua.d.ts" />
import { createHash } from 'node:crypto';

import { Cluster, Redis } from 'ioredis';

import attemptFailed from './scripts/fail.lua';
import forgetNetworks from './scripts/forget-networks.lua';
import networkAttempt from './scripts/network-attempt.lua';
import networkRefund from './scripts/network-refund.lua';
import prelude from './scripts/prelude.lua';
import userAttempt from './scripts/user-attempt.lua';
import userRefund from './scripts/user-refund.lua';

type ScriptReply = string | number | null | ScriptReply[];

interface ThrottleScript {
  readonly lua: string;
  readonly sha: string;
  readonly numberOfKeys: number;
  /** Keys the script may take after its own (an optional device counter). */
  readonly optionalKeys: number;
}

function script(body: string, numberOfKeys: number, optionalKeys = 0): ThrottleScript {
  const lua = `${prelude}\n${body}`;
  return { lua, sha: createHash('sha1').update(lua).digest('hex'), numberOfKeys, optionalKeys };
}

/** The login-throttle scripts; each file's header says its keys, arguments and reply. */
export const THROTTLE_SCRIPTS = {
  userAttempt: script(userAttempt, 4, 1),
  userRefund: script(userRefund, 4, 1),
  networkAttempt: script(networkAttempt, 1),
  networkRefund: script(networkRefund, 1),
  fail: script(attemptFailed, 1),
  forgetNetworks: script(forgetNetworks, 2),
} as const;

export type ThrottleScriptName = keyof typeof THROTTLE_SCRIPTS;

/**
 * Runs the throttle scripts by SHA (EVALSHA), loading them into every master's script cache
 * when the connection becomes ready and again on NOSCRIPT (a restart or failover empties the
 * cache), as the session store does with its own scripts.
 */
export class ThrottleScripts {
  constructor(private readonly client: Redis | Cluster) {
    client.on('ready', () => void this.load().catch(() => undefined));
  }

  async load(): Promise<void> {
    const nodes = this.client instanceof Cluster ? this.client.nodes('master') : [this.client];
    await Promise.all(
      nodes.flatMap((node) =>
        Object.values(THROTTLE_SCRIPTS).map((each) => node.script('LOAD', each.lua)),
      ),
    );
  }

  async run(
    name: ThrottleScriptName,
    keys: string[],
    args: Array<string | number>,
  ): Promise<ScriptReply> {
    const { sha, numberOfKeys, optionalKeys } = THROTTLE_SCRIPTS[name];
    if (keys.length < numberOfKeys || keys.length > numberOfKeys + optionalKeys) {
      throw new Error(`${name} takes ${numberOfKeys} keys (+${optionalKeys}), not ${keys.length}`);
    }
    const call = () =>
      this.client.evalsha(sha, keys.length, ...keys, ...args) as Promise<ScriptReply>;
    try {
      return await call();
    } catch (error) {
      if (!(error instanceof Error) || !error.message.startsWith('NOSCRIPT')) {
        throw error;
      }
      await this.load();
      return call();
    }
  }
}
