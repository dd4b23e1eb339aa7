export { freePort, isAccepting } from './testing/free-port';
export { testKeyPrefix } from './testing/test-key-prefix';
export { startRedisServer, RedisServerProcess } from './testing/redis-server';
export { startRedisCluster, RedisClusterProcess } from './testing/redis-cluster';
export { startRedisSentinels, RedisSentinelProcess } from './testing/redis-sentinel';
export {
  type CertificateFiles,
  type DevCertificates,
  makeDevCertificates,
} from './testing/dev-certificates';
export { type AssertionKeyFiles, makeAssertionKeys } from './testing/assertion-keys';
export { startTcpRelay, TcpRelay } from './testing/tcp-relay';
export type { LostAnswer } from './testing/tcp-relay';
export { watchRedisCommands, type RedisCommandWatch } from './testing/redis-monitor';
export { readRpcFrames } from './testing/rpc-frames';
