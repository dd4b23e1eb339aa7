import { INestApplication } from '@nestjs/common';
import { NestExpressApplication } from '@nestjs/platform-express';
import { DocumentBuilder, SwaggerModule } from '@nestjs/swagger';

import { ServiceDefinition } from '@cloakroom/service-kit';
import { readPemFiles } from '@cloakroom/service-sessions';
import { SessionCookieService } from '@cloakroom/session';
import { reportRefusedHandshakes, sessionRpcTransport } from '@cloakroom/session/rpc';

import { AuthErrorFilter } from './common/auth-error.filter';
import { AuthConfig } from './config/auth.config';

/** Each app's session RPC server, for `stopping`. */
const rpcServers = new WeakMap<NestExpressApplication, { drain(): Promise<void> }>();

/**
 * What makes auth more than the common service: its 429 filter, the TCP session RPC (drained
 * at a shutdown signal, as the HTTP requests are: its calls in flight are answered before the
 * hooks let go of Redis) and the OpenAPI document (the Swagger UI only where `AUTH_API_DOCS`
 * allows it). Its body limit is `BODY_LIMITS.auth`. Used by main.ts and the in-process tests
 * alike.
 */
export const authService: ServiceDefinition<NestExpressApplication> = {
  name: 'auth',
  rpcSettings: { port: 'AUTH_RPC_PORT', host: 'AUTH_RPC_LISTEN_HOST' },
  errorFilter: AuthErrorFilter,
  // Logout ends the session whatever body comes with it (DESIGN: always 204).
  bodilessRoutes: ['/logout'],
  configure: (app) => {
    const config = app.get(AuthConfig);
    app.set('trust proxy', config.trustProxy);
    // Mutual TLS: only services holding a certificate of the deployment's CA get a frame read.
    const pem = readPemFiles({
      AUTH_RPC_CLIENT_CA: config.get('AUTH_RPC_CLIENT_CA'),
      AUTH_RPC_SERVER_CERT: config.get('AUTH_RPC_SERVER_CERT'),
      AUTH_RPC_SERVER_KEY: config.get('AUTH_RPC_SERVER_KEY'),
    });
    const rpc = sessionRpcTransport({
      host: config.get('AUTH_RPC_LISTEN_HOST'),
      port: config.get('AUTH_RPC_PORT'),
      tls: {
        ca: pem.AUTH_RPC_CLIENT_CA,
        cert: pem.AUTH_RPC_SERVER_CERT,
        key: pem.AUTH_RPC_SERVER_KEY,
      },
    });
    // The RPC gets the HTTP side's validation pipe and error filter.
    // Its logs stay buffered with the app's until the service listens: a port it cannot take
    // is then the start-up failure's one line, not the start's logs and a stack.
    reportRefusedHandshakes(
      app.connectMicroservice({ ...rpc, autoFlushLogs: false }, { inheritAppConfig: true }),
    );
    rpcServers.set(app, rpc.strategy);
    // Off in production unless asked: the document maps every route for whoever reads it.
    if (config.get('AUTH_API_DOCS') ?? !config.isProduction) {
      setupOpenApi(app);
    }
  },
  stopping: (app) => rpcServers.get(app)?.drain(),
};

function setupOpenApi(app: INestApplication): void {
  const cookieName = app.get(SessionCookieService).name;
  const document = SwaggerModule.createDocument(
    app,
    new DocumentBuilder()
      .setTitle('Cloakroom auth')
      .setDescription(
        'Login, logout, session self-service, users and roles. Sessions are opaque tokens in ' +
          'an HttpOnly cookie, or bearer tokens for clients that are not browsers.',
      )
      .setVersion('1.0')
      .addCookieAuth(cookieName)
      .addBearerAuth()
      .build(),
  );
  SwaggerModule.setup('api/auth/docs', app, document);
}
