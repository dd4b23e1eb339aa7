import { randomBytes } from 'node:crypto';

/**
 * A Redis key prefix of one test's own, `test:<pid>:<name>:<random>:`: tests running at once
 * (in one process or several) never share keys, and what a test left behind names the process
 * that wrote it. This repository's Jest teardown (`tools/jest/delete-test-keys.js`) deletes the
 * keys of processes that have ended, whatever the tests left without a TTL.
 *
 * @example
 * SessionModule.forRoot({ redis: { url }, keyPrefix: testKeyPrefix('orders') })
 */
export function testKeyPrefix(name = 'session'): string {
  return `test:${process.pid}:${name}:${randomBytes(4).toString('hex')}:`;
}
