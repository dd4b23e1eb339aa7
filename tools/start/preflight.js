#!/usr/bin/env node
// Checks, before `npm start` builds anything, that Redis answers where the services will look
// for it. On failure it prints one line saying where it looked and how to start one.
'use strict';

const { Redis } = require('ioredis');

const clusterNodes = process.env.REDIS_CLUSTER_NODES;
const sentinels = process.env.REDIS_SENTINELS;
const sentinelName = process.env.REDIS_SENTINEL_NAME || 'cloakroom';
const url = process.env.REDIS_URL || 'redis://127.0.0.1:6379';
const target = clusterNodes ? `redis://${clusterNodes.split(',')[0].trim()}` : url;
const HOST_PORT_LIST = /^[^\s,:]+:\d+(,[^\s,:]+:\d+)*$/;

// The services give up on a command after 2 s; so does the preflight, on any of its steps.
const oneTry = {
  lazyConnect: true,
  connectTimeout: 2000,
  // Something that accepts the connection but never answers (a stopped Redis) is not a Redis.
  commandTimeout: 2000,
  maxRetriesPerRequest: 0,
  retryStrategy: () => null,
};

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

/**
 * With REDIS_SENTINELS the services ask the Sentinels for the primary and never read REDIS_URL:
 * so does the preflight, with the same passwords.
 */
function sentinelClient() {
  if (clusterNodes) fail('REDIS_SENTINELS and REDIS_CLUSTER_NODES cannot both be set');
  if (!HOST_PORT_LIST.test(sentinels)) fail('REDIS_SENTINELS is not a list of host:port');
  return {
    where: `primary "${sentinelName}" of sentinels ${sentinels}`,
    advice: 'check that the Sentinels run and monitor it under REDIS_SENTINEL_NAME',
    client: new Redis({
      ...oneTry,
      sentinels: sentinels.split(',').map((address) => {
        const [host, port] = address.split(':');
        return { host, port: Number(port) };
      }),
      name: sentinelName,
      sentinelPassword: process.env.REDIS_SENTINEL_PASSWORD,
      password: process.env.REDIS_PRIMARY_PASSWORD,
      // Every Sentinel tried once, then the answer: none of them knows a primary of that name.
      sentinelRetryStrategy: () => null,
    }),
  };
}

function fail(setting) {
  process.stderr.write(`${setting}: see the Configuration section of README.md.\n`);
  process.exit(1);
}

function directClient() {
  if (!isRedisUrl(target)) {
    fail(
      clusterNodes
        ? 'REDIS_CLUSTER_NODES is not a list of host:port'
        : 'REDIS_URL is not a redis:// or rediss:// URL',
    );
  }
  return {
    where: clusterNodes ? `REDIS_CLUSTER_NODES=${clusterNodes}` : withoutPassword(target),
    advice: 'start one with "redis-server --daemonize yes", or set REDIS_URL',
    client: new Redis(target, oneTry),
  };
}

async function main() {
  const { client, where, advice } = sentinels ? sentinelClient() : directClient();
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
    process.stderr.write(
      `Redis is not reachable at ${where} (${error.code || reason}): ${advice}.\n`,
    );
    process.exit(1);
  }
}

main();
