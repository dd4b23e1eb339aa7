import type { Redis } from 'ioredis';

/** Jest's global teardown: deletes the `test:<pid>:` keys of ended processes. */
declare function deleteTestKeys(): Promise<void>;

declare namespace deleteTestKeys {
  /** Deletes every `test:<pid>:` key whose process has ended or is `self`; returns how many. */
  function deleteEndedTestKeys(
    redis: Redis,
    self?: number,
    isRunning?: (pid: number) => boolean,
  ): Promise<number>;
}

export = deleteTestKeys;
