// Jest's global teardown (jest.preset.js): deletes the Redis keys that tests wrote under
// `test:<pid>:` (`testKeyPrefix()` in @cloakroom/session/testing) once the process named by
// <pid> has ended. Many test keys carry no TTL (a user's tag key, the events stream, revocation
// generations), so without this every run would leave them in the shared Redis for good.
//
// Only ended processes' keys go: a run beside this one (another project's, another checkout's)
// keeps its keys while its workers live. When Jest runs the tests in band they ran in this
// very process, whose tests are over by now, so its own pid counts as ended too. A Redis that
// does not answer is left alone: projects without Redis tests end as they did.
const { Redis } = require('ioredis');

const TEST_KEYS = /^test:(\d+):/;

/** Whether the process `pid` still runs (one of another user counts as running). */
function running(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return error.code === 'EPERM';
  }
}

/**
 * Deletes every `test:<pid>:` key whose process has ended or is `self`; returns how many.
 * `isRunning` is for the test of this function.
 */
async function deleteEndedTestKeys(redis, self = process.pid, isRunning = running) {
  const ended = new Map();
  let deleted = 0;
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', 'test:*', 'COUNT', 1000);
    cursor = next;
    const doomed = keys.filter((key) => {
      const pid = Number(TEST_KEYS.exec(key)?.[1]);
      if (!pid) {
        return false;
      }
      if (!ended.has(pid)) {
        ended.set(pid, pid === self || !isRunning(pid));
      }
      return ended.get(pid);
    });
    if (doomed.length > 0) {
      deleted += await redis.unlink(...doomed);
    }
  } while (cursor !== '0');
  return deleted;
}

module.exports = async function deleteTestKeys() {
  const redis = new Redis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379', {
    lazyConnect: true,
    connectTimeout: 1000,
    disconnectTimeout: 100,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
  });
  redis.on('error', () => undefined);
  try {
    await redis.connect();
    await deleteEndedTestKeys(redis);
  } catch {
    // No Redis here, or it went away: nothing of ours to delete, nothing to fail the run for.
  } finally {
    redis.disconnect();
  }
};
module.exports.deleteEndedTestKeys = deleteEndedTestKeys;
