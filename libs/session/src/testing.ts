export { freePort } from './testing/free-port';
export { startRedisServer, RedisServerProcess } from './testing/redis-server';
export { startRedisCluster, RedisClusterProcess } from './testing/redis-cluster';
