import { NestExpressApplication } from '@nestjs/platform-express';

import { ServiceDefinition } from '@cloakroom/service-kit';
import { readPemFiles } from '@cloakroom/service-sessions';
import { reportRefusedHandshakes, sessionRpcTransport } from '@cloakroom/session/rpc';

import { CatalogEnv } from './config/catalog.env';

/** Each app's RPC server, for `stopping`. */
const rpcServers = new WeakMap<NestExpressApplication, { drain(): Promise<void> }>();

/**
 * What makes catalog more than the common service: its RPC for other services (price quotes),
 * over the same mutual TLS as auth's session RPC. Every message on it must act for a live
 * session (a session assertion, which the global `SessionGuard` verifies). At a shutdown signal
 * the RPC is drained as the HTTP requests are: a quote in flight waits on auth's session RPC,
 * which Nest's hooks close, so it is answered before they run. Used by main.ts and the
 * in-process tests alike.
 */
export const catalogService: ServiceDefinition<NestExpressApplication> = {
  name: 'catalog',
  rpcSettings: { port: 'CATALOG_RPC_PORT', host: 'CATALOG_RPC_LISTEN_HOST' },
  configure: (app) => {
    const env = app.get(CatalogEnv);
    const pem = readPemFiles({
      CATALOG_RPC_CLIENT_CA: env.CATALOG_RPC_CLIENT_CA,
      CATALOG_RPC_SERVER_CERT: env.CATALOG_RPC_SERVER_CERT,
      CATALOG_RPC_SERVER_KEY: env.CATALOG_RPC_SERVER_KEY,
    });
    const rpc = sessionRpcTransport({
      host: env.CATALOG_RPC_LISTEN_HOST,
      port: env.CATALOG_RPC_PORT,
      tls: {
        ca: pem.CATALOG_RPC_CLIENT_CA,
        cert: pem.CATALOG_RPC_SERVER_CERT,
        key: pem.CATALOG_RPC_SERVER_KEY,
      },
    });
    // The HTTP side's validation pipe and error filter apply to messages too.
    // Its logs stay buffered with the app's until the service listens: a port it cannot take
    // is then the start-up failure's one line, not the start's logs and a stack.
    reportRefusedHandshakes(
      app.connectMicroservice({ ...rpc, autoFlushLogs: false }, { inheritAppConfig: true }),
    );
    rpcServers.set(app, rpc.strategy);
  },
  stopping: (app) => rpcServers.get(app)?.drain(),
};
