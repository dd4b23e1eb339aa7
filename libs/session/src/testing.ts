export { InMemorySessionStore } from './testing/in-memory-session.store';
export { startRedisServer, RedisServerProcess } from './testing/redis-server';
export { startRedisCluster, RedisClusterProcess } from './testing/redis-cluster';
