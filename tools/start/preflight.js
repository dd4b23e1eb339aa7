#!/usr/bin/env node
// Checks, before `npm start` builds anything, that Redis answers where the services will look
// for it. On failure it prints one line saying where it looked and how to start one.
'use strict';

const { Redis } = require('ioredis');

const clusterNodes = process.env.REDIS_CLUSTER_NODES;
const url = process.env.REDIS_URL || 'redis://127.0.0.1:6379';
const target = clusterNodes ? `redis://${clusterNodes.split(',')[0].trim()}` : url;

function withoutPassword(address) {
  const parsed = new URL(address);
  parsed.password = '';
  return parsed.toString().replace(/\/$/, '');
}

function isRedisUrl(address) {
  try {
    return ['redis:', 'rediss:'].includes(new URL(address).protocol);
  } catch {
    return false;
  }
}

async function main() {
  if (!isRedisUrl(target)) {
    const setting = clusterNodes
      ? 'REDIS_CLUSTER_NODES is not a list of host:port'
      : 'REDIS_URL is not a redis:// or rediss:// URL';
    process.stderr.write(`${setting}: see the Configuration section of README.md.\n`);
    process.exit(1);
  }
  const client = new Redis(target, {
    lazyConnect: true,
    connectTimeout: 2000,
    // Something that accepts the connection but never answers (a stopped Redis) is not a Redis.
    commandTimeout: 2000,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
  });
  let reason = 'no answer';
  client.on('error', (error) => {
    reason = error.code || error.message;
  });
  try {
    await client.connect();
    await client.ping();
    client.disconnect();
  } catch (error) {
    client.disconnect();
    const where = clusterNodes ? `REDIS_CLUSTER_NODES=${clusterNodes}` : withoutPassword(target);
    process.stderr.write(
      `Redis is not reachable at ${where} (${error.code || reason}): start one with ` +
        `"redis-server --daemonize yes", or set REDIS_URL.\n`,
    );
    process.exit(1);
  }
}

main();
