export { SessionEnv, SessionRedisEnv, SessionRemoteEnv } from './lib/session.env';
export {
  clusterNodesOf,
  isRemote,
  RedisConnectionFromEnv,
  redisConnectionFromEnv,
  redisLocation,
  sessionOptionsFromEnv,
} from './lib/session-options';
export { readPemFiles } from './lib/pem-files';
export { SessionStoreCheck } from './lib/session-store.check';
export { SESSIONS_HEALTH_KEY } from './lib/service-health.controller';
export { ServiceHealthModule } from './lib/service-health.module';
export { signingAssertions, trustedAssertions } from './lib/assertion-options';
export {
  EVENT_LOOP_SAMPLE_MS,
  PrometheusSessionMetrics,
  PrometheusSessionMetricsOptions,
} from './lib/prometheus-session.metrics';
